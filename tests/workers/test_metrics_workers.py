"""Issue 17, point 4, across processes: `serve --workers 2` with `log.format = "json"`.

Two IMAP sessions open at once go to different workers (the supervisor hands
each connection to the least busy). Each fails two logins. /metrics, served
by worker 0, counts all four: prometheus-client's multiprocess mode sums the
workers' files. Every log line is one JSON object; the lines of one session
carry one session id, the two sessions different ones.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.serve import prepare_user, start_serve

TOKEN = "scrape-token-for-the-test"


def config_text(tmp_path: Path, url: str) -> str:
    return f"""
[server]
hostname = "mail.example.org"
data_dir = "{tmp_path / 'data'}"
[storage]
url = "{url}"
[listeners]
smtp = ""
submission = ""
submissions = ""
imap = "127.0.0.1:0"
imaps = ""
pop3 = ""
pop3s = ""
http = "127.0.0.1:0"
https = ""
managesieve = ""
[auth]
allow_plaintext = true
[log]
format = "json"
[metrics]
token = "{TOKEN}"
"""


def failed_logins(port: int) -> None:
    first = imaplib.IMAP4("127.0.0.1", port)
    second = imaplib.IMAP4("127.0.0.1", port)  # opened while the first is: the other worker
    for imap in (first, second, first, second):
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("b@example.org", "wrong")
    for imap in (first, second):
        imap.logout()


def login_failures(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "postfach_login_failures_total":
                if sample.labels == {"protocol": "imap"}:
                    return sample.value
    return 0.0


def test_metrics_are_summed_over_workers_and_logs_are_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare_user(url, "b@example.org", "right password"))
    config = tmp_path / "postfach.toml"
    config.write_text(config_text(tmp_path, url))
    log = tmp_path / "serve.log"
    process, ports = start_serve(config, log, workers=2)
    try:
        failed_logins(ports["imap"])
        got = httpx.get(
            f"http://127.0.0.1:{ports['http']}/metrics",
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert got.status_code == 200
        assert login_failures(got.text) == 4
    finally:
        process.terminate()
        process.wait(30)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    failures = [e for e in entries if "auth failed" in e["message"]]
    assert len(failures) == 4, failures
    sessions: dict[str, set[int]] = {}
    for entry in failures:
        sessions.setdefault(entry["session"], set()).add(entry["worker"])
    assert len(sessions) == 2  # two sessions, two lines each, one id per session
    assert all(len(workers) == 1 for workers in sessions.values())
    assert set().union(*sessions.values()) == {0, 1}  # one session in each worker
