"""Failed logins over the wire (issue #14.4 and #14.8): an attacker at one address
cannot lock a user out of another, and every refusal is one fail2ban-ready line.

The clients bind their sockets to a chosen loopback address (127.0.0.2 is the
attacker, 127.0.0.1 the user's device), so the server sees two addresses.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from harness import TestServer, make_server
from postfach.imap import responses as imap_replies
from postfach.pop3 import replies as pop3_replies
from postfach.smtp import replies as smtp_replies
from postfach.web.sessions import LOGIN_COOKIE

ALICE = "alice@example.org"
PASSWORD = "alice-secret-9"
DEVICE = "127.0.0.1"
ATTACKER = "127.0.0.2"
# What a fail2ban filter would say: failregex with <HOST> in place of the group.
FAIL2BAN = re.compile(
    r"^auth (?:failed|throttled): user=<[^>]*> ip=<(?P<host>[^>]+)>"
    r" proto=(?:imap|pop3|smtp|web) reason=[a-z-]+$"
)

Login = Callable[[TestServer, str, str, str], Awaitable[str]]


async def _open(
    server: TestServer, listener: str, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port(listener), local_addr=(source, 0))


async def _line(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readline(), 10)).decode().rstrip("\r\n")


def _verdict(reply: str, ok: bool, failed: str, throttled: str) -> str:
    if ok:
        return "ok"
    if reply == failed:
        return "failed"
    if reply == throttled:
        return "throttled"
    raise AssertionError(f"unexpected reply {reply!r}")


async def imap_login(server: TestServer, source: str, user: str, password: str) -> str:
    reader, writer = await _open(server, "imap", source)
    try:
        await _line(reader)
        writer.write(f'a1 LOGIN "{user}" "{password}"\r\n'.encode())
        while not (reply := await _line(reader)).startswith("a1 "):
            pass
        return _verdict(
            reply,
            reply.startswith("a1 OK"),
            f"a1 NO [AUTHENTICATIONFAILED] {imap_replies.AUTH_FAILED}",
            f"a1 NO [UNAVAILABLE] {imap_replies.THROTTLED}",
        )
    finally:
        writer.close()


async def pop3_login(server: TestServer, source: str, user: str, password: str) -> str:
    reader, writer = await _open(server, "pop3", source)
    try:
        await _line(reader)
        writer.write(f"USER {user}\r\n".encode())
        assert (await _line(reader)).startswith("+OK")
        writer.write(f"PASS {password}\r\n".encode())
        reply = await _line(reader)
        return _verdict(
            reply,
            reply.startswith("+OK"),
            pop3_replies.LOGIN_FAILED.decode().rstrip("\r\n"),
            pop3_replies.THROTTLED.decode().rstrip("\r\n"),
        )
    finally:
        writer.close()


async def smtp_login(server: TestServer, source: str, user: str, password: str) -> str:
    reader, writer = await _open(server, "submission", source)
    try:
        await _line(reader)
        writer.write(b"EHLO client.example\r\n")
        while not (await _line(reader)).startswith("250 "):
            pass
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        writer.write(f"AUTH PLAIN {plain}\r\n".encode())
        reply = await _line(reader)
        return _verdict(
            reply,
            reply == str(smtp_replies.AUTH_OK).rstrip("\r\n"),
            str(smtp_replies.BAD_CREDENTIALS).rstrip("\r\n"),
            str(smtp_replies.AUTH_THROTTLED).rstrip("\r\n"),
        )
    finally:
        writer.close()


async def web_login(server: TestServer, source: str, user: str, password: str) -> str:
    """The sign-in form, as a browser posts it, from `source`."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    base = f"http://{server.host}:{server.port('http')}"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf" value="([^"]*)"', page.text)
        cookie = re.search(LOGIN_COOKIE + r"=([^;]*)", page.headers["set-cookie"])
        assert token and cookie
        response = await client.post(
            "/login",
            data={"csrf": token[1], "address": user, "password": password},
            headers={"cookie": f"{LOGIN_COOKIE}={cookie[1]}"},
        )
    codes = {303: "ok", 401: "failed", 429: "throttled"}
    return codes[response.status_code]


LOGINS: dict[str, Login] = {
    "imap": imap_login,
    "pop3": pop3_login,
    "smtp": smtp_login,
    "web": web_login,
}


def auth_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("auth ")]


@pytest.mark.parametrize("protocol", LOGINS)
async def test_an_attacker_cannot_lock_the_user_out(
    server: TestServer, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postfach")
    await server.add_user(ALICE, PASSWORD)
    login = LOGINS[protocol]
    limit = server.ctx.config.auth.max_failures
    for _ in range(limit):
        assert await login(server, ATTACKER, ALICE, "guess") == "failed"
    # The attacker's address is held, with the protocol's "too many" reply ...
    assert await login(server, ATTACKER, ALICE, "guess") == "throttled"
    assert await login(server, ATTACKER, ALICE, PASSWORD) == "throttled"
    # ... while Alice's own device still logs in.
    assert await login(server, DEVICE, ALICE, PASSWORD) == "ok"
    # One line per event, in the one form, naming the attacker's address.
    failed = f"auth failed: user=<{ALICE}> ip=<{ATTACKER}> proto={protocol} reason=bad-password"
    held = f"auth throttled: user=<{ALICE}> ip=<{ATTACKER}> proto={protocol} reason=user-address"
    assert auth_lines(caplog) == [failed] * limit + [held] * 2
    hosts = [m["host"] if (m := FAIL2BAN.match(line)) else None for line in auth_lines(caplog)]
    assert hosts == [ATTACKER] * (limit + 2)


@pytest.mark.parametrize("protocol", LOGINS)
async def test_a_fail2ban_filter_matches_each_protocol(
    server: TestServer, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Unknown users too, and a user name built to forge a second address is escaped."""
    caplog.set_level(logging.INFO, logger="postfach")
    login = LOGINS[protocol]
    assert await login(server, ATTACKER, "nobody@example.org", "x") == "failed"
    assert await login(server, ATTACKER, "x>ip=<192.0.2.1>", "x") == "failed"
    lines = auth_lines(caplog)
    assert lines[0] == (
        f"auth failed: user=<nobody@example.org> ip=<{ATTACKER}> proto={protocol}"
        " reason=unknown-user"
    )
    assert len(lines) == 2 and "ip=<192.0.2.1>" not in lines[1]
    forged = "user=<x\\x3eip=\\x3c192.0.2.1\\x3e@example.org>"  # the local part, escaped
    assert lines[1].startswith(f"auth failed: {forged} ip=<{ATTACKER}>")
    for line in lines:
        match = FAIL2BAN.match(line)
        assert match is not None and match["host"] == ATTACKER, line
    assert PASSWORD not in caplog.text


async def test_the_user_ceiling_needs_many_addresses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postfach")
    auth = {"allow_plaintext": True, "user_max_failures": 12}
    async with make_server(tmp_path, auth=auth) as server:
        await server.add_user(ALICE, PASSWORD)
        assert await imap_login(server, DEVICE, ALICE, PASSWORD) == "ok"
        # From one address only the first five count: the ceiling is out of reach.
        for _ in range(15):
            await imap_login(server, ATTACKER, ALICE, "guess")
        assert await imap_login(server, "127.0.0.50", ALICE, PASSWORD) == "ok"
        # Spread over addresses, the failures reach it (5 + 4 + 3 = 12) ...
        for n in range(7):
            source = f"127.0.1.{n // 4 + 1}"
            assert await imap_login(server, source, ALICE, "guess") == "failed"
        assert await imap_login(server, "127.0.0.51", ALICE, PASSWORD) == "throttled"
        # ... but not for the addresses Alice logged in from.
        assert await imap_login(server, DEVICE, ALICE, PASSWORD) == "ok"
        assert await imap_login(server, "127.0.0.50", ALICE, PASSWORD) == "ok"
        assert await pop3_login(server, DEVICE, ALICE, PASSWORD) == "ok"
    assert auth_lines(caplog)[-1] == (
        f"auth throttled: user=<{ALICE}> ip=<127.0.0.51> proto=imap reason=user"
    )
