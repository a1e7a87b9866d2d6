"""Issue 17, point 5: the newcomer's path, through the command line as typed.

`domain dns` tells the ports mail programs are told (`[public_ports]`) and
publishes no autodiscover SRV record where no https listener answers; `user
add` without a password on stdin, or with a short one, ends in one line, not a
traceback, by the same rule the admin API holds; `serve --dev` keeps its demo
password across restarts.
"""

from __future__ import annotations

import imaplib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness import TestServer
from postfach.auth.passwords import MIN_PASSWORD, password_problem
from support.cli import postfach_ok as ok
from support.cli import run_postfach as run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("newcomer")
    ok(cwd, "init", "--data-dir", "D", "--domain", "example.org")
    return cwd


def _srv_records(tmp_path: Path, change: Callable[[str], str]) -> tuple[dict[str, str], list[str]]:
    ok(tmp_path, "init", "--data-dir", "D", "--domain", "example.org")
    config = tmp_path / "postfach.toml"
    config.write_text(change(config.read_text()))
    records = ok(tmp_path, "domain", "dns", "example.org").splitlines()
    return {line.split()[0]: line.split()[-2] for line in records if " SRV " in line}, records


def test_domain_dns_uses_public_ports_and_the_https_listener(tmp_path: Path) -> None:
    def change(text: str) -> str:
        text = text.replace('imaps = "0.0.0.0:993"', 'imaps = "0.0.0.0:1993"')
        text = text.replace('submission = "0.0.0.0:587"', 'submission = "0.0.0.0:2587"')
        text = text.replace('https = "0.0.0.0:443"', 'https = "0.0.0.0:8443"')
        return text + "\n[public_ports]\nimaps = 993\nhttps = 443\n"

    srv, records = _srv_records(tmp_path, change)
    assert srv["_imaps._tcp.example.org."] == "993"  # what autoconfig tells, not 1993
    assert srv["_submission._tcp.example.org."] == "2587"  # no public port: the listener's
    assert srv["_autodiscover._tcp.example.org."] == "443"  # where the https listener answers
    assert any(line.startswith("autodiscover.example.org. IN CNAME") for line in records)


def test_no_autodiscover_srv_without_an_https_listener(tmp_path: Path) -> None:
    srv, records = _srv_records(
        tmp_path, lambda text: text.replace('https = "0.0.0.0:443"', 'https = ""')
    )
    assert "_autodiscover._tcp.example.org." not in srv  # nothing listens on 443
    assert any(line.startswith("autodiscover.example.org. IN CNAME") for line in records)


def test_user_add_without_a_password_is_one_line(workdir: Path) -> None:
    result = run(workdir, "user", "add", "a@example.org", stdin="")  # </dev/null, Ctrl-D
    assert result.returncode == 1
    assert result.stderr.strip() == "postfach: no password given (use --password-stdin to pipe one)"


def test_a_short_password_is_refused_by_the_one_rule(workdir: Path) -> None:
    short = "x" * (MIN_PASSWORD - 1)
    result = run(workdir, "user", "add", "b@example.org", "--password-stdin", stdin=short + "\n")
    assert result.returncode == 1
    assert result.stderr.strip() == f"postfach: {password_problem(short)}"
    assert "b@example.org" not in ok(workdir, "user", "list")
    long_enough = "x" * MIN_PASSWORD
    ok(workdir, "user", "add", "b@example.org", "--password-stdin", stdin=long_enough + "\n")
    result = run(workdir, "user", "passwd", "b@example.org", "--password-stdin", stdin="1\n")
    assert result.stderr.strip() == f"postfach: {password_problem('1')}"


async def test_the_admin_api_holds_the_same_rule(server: TestServer) -> None:
    token = "newcomer-admin-token"
    await server.ctx.store.web.add_admin_token("ops", token)
    short = "y" * (MIN_PASSWORD - 1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port('http')}") as client:
        got = await client.post(
            "/api/v1/accounts",
            json={"address": "c@example.org", "password": short},
            headers={"authorization": f"Bearer {token}"},
        )
    assert got.status_code == 422
    assert got.json()["detail"] == password_problem(short)


def start_dev(cwd: Path, config: Path) -> tuple[subprocess.Popen[str], str, int]:
    """`serve --dev --config` (ports 0, so no clash); its demo password and IMAP port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--dev", "--config", str(config)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    password, port = "", 0
    for line in process.stdout:
        words = line.split()
        if words[:1] == ["imap"] and len(words) == 2:
            port = int(words[1].rsplit(":", 1)[1])
        if line.startswith("demo account:"):
            password = line.split("password:")[1].strip()
        if line.startswith("stop with"):
            break
    assert password and port, "serve --dev printed no password"
    return process, password, port


def test_serve_dev_keeps_its_password(tmp_path: Path) -> None:
    config = tmp_path / "dev.toml"
    # Every listener on a free port or off: the defaults of https and managesieve
    # (0.0.0.0:443, :4190) would clash with any other server on the machine.
    listeners = "\n".join(
        f'{name} = "127.0.0.1:0"'
        for name in ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http")
    )
    listeners += '\nhttps = ""\nmanagesieve = ""'
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "dev-data"}"\nworkers = 1\n'
        f'[storage]\nurl = "sqlite:///{tmp_path / "dev.db"}"\n'
        f"[auth]\nallow_plaintext = true\n[listeners]\n{listeners}\n"
    )
    first, yesterday, _ = start_dev(tmp_path, config)
    first.terminate()
    first.wait(30)
    kept = tmp_path / "dev-data" / "dev-password"
    assert kept.stat().st_mode & 0o777 == 0o600
    second, today, port = start_dev(tmp_path, config)
    try:
        assert today == yesterday
        imap = imaplib.IMAP4("127.0.0.1", port)  # the mail program set up yesterday
        assert imap.login("demo@example.test", yesterday)[0] == "OK"
        imap.logout()
    finally:
        second.terminate()
        second.wait(30)


def test_ctrl_d_at_the_password_prompt_is_one_line(workdir: Path) -> None:
    """At a real terminal (a pty that is the process's controlling terminal)."""
    import fcntl
    import os
    import pty
    import termios

    primary, secondary = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "postfach", "user", "add", "d@example.org"],
        cwd=workdir, stdin=secondary, stdout=secondary, stderr=secondary,
        start_new_session=True, preexec_fn=take_terminal,  # noqa: PLW1509
        env={**os.environ, "POSTFACH_CONFIG": ""},
    )  # fmt: skip
    os.close(secondary)
    output = b""
    try:
        while b"Password: " not in output:
            output += os.read(primary, 1024)
        os.write(primary, b"\x04")  # Ctrl-D
        while True:
            try:
                chunk = os.read(primary, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        assert process.wait(60) == 1
        os.close(primary)
    text = output.decode(errors="replace")
    assert "Traceback" not in text
    assert "postfach: no password given (use --password-stdin to pipe one)" in text
