"""Issue 17, point 3: Debian's HAProxy in front of `postfach serve --workers 2`.

HAProxy listens on loopback ports and passes IMAP (send-proxy-v2), IMAPS
(send-proxy-v2, TLS passed through) and SMTP (send-proxy, version 1) to
postfach, which trusts only 127.0.0.1. The client connects from 127.0.0.2:
postfach's log and throttle see 127.0.0.2, and the same client connecting
straight to postfach is refused.
"""

from __future__ import annotations

import asyncio
import imaplib
import shutil
import smtplib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postfach.store import Store
from support.net import free_port, insecure_tls_context
from support.serve import prepare_user, start_serve

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
CLIENT = "127.0.0.2"
MESSAGE = b"From: x@sender.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "haproxy exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, int], dict[str, int], Path, str]]:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare_user(url, "b@example.org", "right password"))
    config = tmp_path / "postfach.toml"
    config.write_text(
        f"""
[server]
hostname = "mail.example.org"
data_dir = "{tmp_path / "data"}"
[storage]
url = "{url}"
[listeners]
smtp = "127.0.0.1:0"
submission = ""
submissions = ""
https = ""
managesieve = ""
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
pop3 = ""
pop3s = ""
http = "127.0.0.1:0"
[auth]
allow_plaintext = true
max_failures = 2
lockout = 600.0
[proxy]
trusted = ["127.0.0.1/32"]
protocol_listeners = ["imap", "imaps", "smtp"]
"""
    )
    log = tmp_path / "serve.log"
    process, ports = start_serve(config, log, workers=2)
    front = {name: free_port() for name in ("imap", "imaps", "smtp")}
    versions = {"imap": "send-proxy-v2", "imaps": "send-proxy-v2", "smtp": "send-proxy"}
    sections = "".join(
        f"""
frontend {name}
    bind 127.0.0.1:{front[name]}
    default_backend {name}_back
backend {name}_back
    server postfach 127.0.0.1:{ports[name]} {versions[name]}
"""
        for name in front
    )
    haproxy_cfg = tmp_path / "haproxy.cfg"
    haproxy_cfg.write_text(
        """
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
"""
        + sections
    )
    assert HAPROXY is not None
    proxy = subprocess.Popen(
        [HAPROXY, "-f", str(haproxy_cfg), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "haproxy.log").open("wb"),
    )
    try:
        for port in front.values():
            wait_listening(port, proxy)
        yield front, ports, log, url
    finally:
        proxy.terminate()
        proxy.wait(30)
        process.terminate()
        process.wait(30)


class FromClient(imaplib.IMAP4):
    """IMAP from 127.0.0.2, as a client elsewhere would come."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, (CLIENT, 0))


class FromClientTls(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout: float | None) -> socket.socket:
        plain = socket.create_connection((self.host, self.port), timeout, (CLIENT, 0))
        return self.ssl_context.wrap_socket(plain, server_hostname=self.host)


def login(port: int, password: str) -> str:
    imap = FromClient("127.0.0.1", port)
    try:
        imap.login("b@example.org", password)
    except imaplib.IMAP4.error as exc:
        return str(exc)
    imap.logout()
    return "OK"


def test_haproxy_passes_the_client_address(
    served: tuple[dict[str, int], dict[str, int], Path, str],
) -> None:
    front, ports, log, url = served
    assert login(front["imap"], "right password") == "OK"
    for _ in range(2):
        assert "AUTHENTICATIONFAILED" in login(front["imap"], "wrong")
    assert "Too many failed logins" in login(front["imap"], "right password")
    text = log.read_text()
    assert f"ip=<{CLIENT}>" in text
    assert "ip=<127.0.0.1>" not in text  # the proxy's own address is never the client

    # Implicit TLS through HAProxy: the header first, then the handshake.
    imaps = FromClientTls("127.0.0.1", front["imaps"], ssl_context=insecure_tls_context())
    assert "Too many failed logins" in _refused(imaps)

    # SMTP with a v1 header: the Received line names 127.0.0.2.
    with smtplib.SMTP("127.0.0.1", front["smtp"], source_address=(CLIENT, 0)) as smtp:
        smtp.sendmail("x@sender.test", ["b@example.org"], MESSAGE)
    [raw] = asyncio.run(inbox(url, "b@example.org"))
    assert f"([{CLIENT}])".encode() in raw.split(b"\r\n\r\n", 1)[0]

    # Straight to postfach from 127.0.0.2: not a trusted proxy, closed unanswered.
    with socket.create_connection(("127.0.0.1", ports["imap"]), 10, (CLIENT, 0)) as sock:
        try:
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass
    assert "127.0.0.2 is not a trusted proxy" in log.read_text()


async def inbox(url: str, address: str) -> list[bytes]:
    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account(address)
        assert account is not None
        mailbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert mailbox is not None
        index = await store.mail.message_index(mailbox.id)
        stored = await store.mail.get_messages(mailbox.id, [m.uid for m in index])
        return [await store.mail.read_raw(m) for m in stored]
    finally:
        await store.close()


def _refused(imap: imaplib.IMAP4) -> str:
    try:
        imap.login("b@example.org", "right password")
    except imaplib.IMAP4.error as exc:
        return str(exc)
    finally:
        imap.shutdown()
    return "OK"
