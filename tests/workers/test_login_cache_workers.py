"""Issue 20, point 3: the workers of `serve --workers 2` share the login cache.

The supervisor hands a connection to the least busy worker, so a mail
program's next connection often lands on the other one. Two IMAP sessions open
at once go to different workers; with the right password both log in, and
argon2 checks that password once (/metrics, summed over the workers, says how
often it ran). The runtime file the workers share holds neither the password
nor its hash: its entries are keyed hashes under a key the supervisor passed
to the workers through a pipe.
"""

from __future__ import annotations

import asyncio
import imaplib
import sqlite3
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.serve import prepare_user, start_serve

USER = "alice@example.org"
PASSWORD = "correct horse battery"
TOKEN = "scrape-token-for-the-test"


def config_text(tmp_path: Path, url: str) -> str:
    off = "\n".join(
        f'{name} = ""'
        for name in (
            "smtp", "submission", "submissions", "imaps", "pop3", "pop3s", "https",
            "managesieve", "devices",
        )
    )  # fmt: skip
    return (
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[storage]\nurl = "{url}"\n'
        f'[listeners]\nimap = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n{off}\n'
        f'[auth]\nallow_plaintext = true\n[metrics]\ntoken = "{TOKEN}"\n'
    )


def password_checks(port: int) -> float:
    text = httpx.get(
        f"http://127.0.0.1:{port}/metrics", headers={"authorization": f"Bearer {TOKEN}"}
    ).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "postfach_password_checks_total":
                return sample.value
    return 0.0


def test_a_login_checked_in_one_worker_is_known_to_the_other(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare_user(url, USER, PASSWORD))
    config = tmp_path / "postfach.toml"
    config.write_text(config_text(tmp_path, url))
    process, ports = start_serve(config, tmp_path / "serve.log", workers=2)
    try:
        first = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10)
        second = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10)  # the other worker
        before = password_checks(ports["http"])
        first.login(USER, PASSWORD)
        assert password_checks(ports["http"]) == before + 1
        second.login(USER, PASSWORD)
        assert password_checks(ports["http"]) == before + 1  # answered by the shared entry
        for imap in (first, second):
            imap.logout()

        wrong = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10)
        try:
            wrong.login(USER, "not the password")
        except imaplib.IMAP4.error:
            pass
        else:
            raise AssertionError("a wrong password logged in")
        wrong.logout()
        assert password_checks(ports["http"]) == before + 2  # no entry answers another secret

        with sqlite3.connect(tmp_path / "data" / "runtime.db") as runtime:
            rows = runtime.execute("SELECT * FROM logins").fetchall()
        assert len(rows) == 1
        stored = repr(rows).encode()
        assert PASSWORD.encode() not in stored
        assert b"argon2" not in stored
    finally:
        process.terminate()
        process.wait(30)
    log = (tmp_path / "serve.log").read_text()
    assert PASSWORD not in log
