"""Log lines (issue #14.8): one line per event, in a fixed form, no tracebacks for
what clients do wrong. The server runs in this process, so caplog sees its log.
(Failed logins and lock-outs: tests/auth/test_auth_wire.py.)"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from tests.smtp.smtpwire import Wire

from harness import TestServer

MESSAGE = (
    b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n"
    b"Message-ID: <m1@example.org>\r\n\r\nHello.\r\n"
)


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    """Everything logged at `level` or above."""
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


async def _until_closed(reader: asyncio.StreamReader) -> None:
    async with asyncio.timeout(10):
        while await reader.read(4096):
            pass


# -- a failed TLS handshake after STARTTLS ------------------------------------------------

STARTTLS = {
    "imap": (b"a1 STARTTLS\r\n", b"a1 OK"),
    "pop3": (b"STLS\r\n", b"+OK"),
    "submission": (b"EHLO x\r\nSTARTTLS\r\n", b"220 2.0.0"),
}


@pytest.mark.parametrize("listener", STARTTLS)
async def test_failed_handshake_after_starttls_is_one_quiet_line(
    server: TestServer, listener: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    command, ready = STARTTLS[listener]
    reader, writer = await asyncio.open_connection(server.host, server.port(listener))
    await reader.readline()
    writer.write(command)
    while not (await reader.readline()).startswith(ready):
        pass
    writer.write(b"this is not a TLS client hello\r\n" * 8)
    await _until_closed(reader)
    writer.close()
    await asyncio.sleep(0.1)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    [line] = lines(caplog)
    assert re.fullmatch(
        rf"{listener}: TLS handshake from 127\.0\.0\.1 failed: \[SSL: [A-Z_]+\] .*", line
    ), line


# -- an HTTP client that hangs up in the middle of its body -----------------------------------


async def test_http_client_hanging_up_mid_body_is_one_line(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    caplog.set_level(logging.INFO, logger="postfach")
    reader, writer = await asyncio.open_connection(server.host, server.port("http"))
    writer.write(
        b"POST /login HTTP/1.1\r\nHost: mail.example.org\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        b"address=alice%40example.org&password="
    )
    await writer.drain()
    await asyncio.sleep(0.3)  # the server is reading the body now
    writer.close()
    async with asyncio.timeout(10):
        while not lines(caplog):
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # time for any further lines
    assert lines(caplog, logging.DEBUG) == ["web: 127.0.0.1 hung up during POST /login"]


# -- accepted messages -----------------------------------------------------------------------


async def _send(wire: Wire, sender: str, recipients: list[str], raw: bytes) -> int:
    await wire.expect(f"MAIL FROM:<{sender}>", 250)
    for rcpt in recipients:
        await wire.expect(f"RCPT TO:<{rcpt}>", 250)
    await wire.expect("DATA", 354)
    code, _ = await wire.cmd(raw + b".\r\n")
    return code


def message_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    words = ("accepted:", "refused:", "delivered:", "queued:", "bounced:")
    return [line for line in lines(caplog) if line.startswith(words)]


async def test_a_submitted_message_is_logged_like_postfix(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postfach")
    await server.add_user("alice@example.org", "pw-alice")
    await server.add_user("bob@example.org", "pw-bob")
    wire = await Wire.open(server.host, server.port("submission"))
    await wire.start()
    await wire.login("alice@example.org", "pw-alice")
    rcpts = ["bob@example.org", "carol@example.net"]
    assert await _send(wire, "alice@example.org", rcpts, MESSAGE) == 250
    await wire.close()
    accepted, delivered, queued = message_lines(caplog)
    match = re.fullmatch(
        r"accepted: id=([0-9A-F]{10}) from=<alice@example\.org> size=(\d+) nrcpt=2"
        r" proto=ESMTPA client=\[127\.0\.0\.1\] user=<alice@example\.org>"
        r" message-id=<m1@example\.org>",
        accepted,
    )
    assert match is not None, accepted
    assert int(match[2]) == len(MESSAGE)
    ident = match[1]
    assert delivered == f"delivered: id={ident} to=<bob@example.org> mailbox=INBOX"
    assert re.fullmatch(rf"queued: id={ident} to=<carol@example\.net> queue=\d+", queued)


async def test_mail_from_another_server_and_a_full_mailbox(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postfach")
    await server.add_user("bob@example.org", "pw-bob")
    await server.add_user("full@example.org", "pw", quota_bytes=100)
    # From another server's user: without AUTH, From: may not name our own domain (issue 16).
    message = MESSAGE.replace(b"From: alice@example.org", b"From: x@example.net")
    wire = await Wire.open(server.host, server.port("smtp"))
    await wire.start()
    # One recipient can take it, one cannot: accepted, and a report for the other.
    both = ["bob@example.org", "full@example.org"]
    assert await _send(wire, "x@example.net", both, message + b"x" * 200 + b"\r\n") == 250
    # Nobody can take it: refused, and logged as such.
    assert await _send(wire, "x@example.net", ["full@example.org"], message * 3) == 552
    await wire.close()
    accepted, delivered, bounced, refused = message_lines(caplog)
    assert re.fullmatch(
        r"accepted: id=\w{10} from=<x@example\.net> size=\d+ nrcpt=2 proto=ESMTP"
        r" client=\[127\.0\.0\.1\] user=<> message-id=<m1@example\.org>",
        accepted,
    ), accepted
    ident = accepted.split()[1]
    assert delivered == f"delivered: {ident} to=<bob@example.org> mailbox=INBOX"
    assert bounced == f"bounced: {ident} to=<full@example.org> status=5.2.2 reason=mailbox-full"
    assert re.fullmatch(
        rf"refused: id=\w{{10}} from=<x@example\.net> size={len(message) * 3} nrcpt=1"
        r" proto=ESMTP client=\[127\.0\.0\.1\] user=<> message-id=<m1@example\.org>"
        r" reply=552 5\.2\.2",
        refused,
    ), refused
