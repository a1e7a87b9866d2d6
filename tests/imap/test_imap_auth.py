"""Greeting, CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, IMAPS, LOGOUT, log out everywhere."""

from __future__ import annotations

import asyncio
import base64
import imaplib

import pytest
from tests.imap.conftest import PASSWORD, USER
from tests.imap.imapwire import Wire

from harness import make_server
from support.net import insecure_tls_context


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_greeting_and_capability(wire):
    c = await wire(login=False)
    assert c.greeting.startswith("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ")
    untagged, status = await c.cmd("CAPABILITY")
    caps = untagged[0].split()
    for cap in (
        "IMAP4rev1",
        "IMAP4rev2",
        "STARTTLS",
        "AUTH=PLAIN",
        "AUTH=LOGIN",
        "SASL-IR",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "CONDSTORE",
        "QRESYNC",
        "LITERAL+",
        "SPECIAL-USE",
    ):
        assert cap in caps
    assert "LOGINDISABLED" not in caps
    assert status == "OK CAPABILITY completed"


async def test_login_and_capability_after(wire):
    c = await wire(login=False)
    untagged, status = await c.cmd(f"LOGIN {USER} {PASSWORD}")
    assert untagged == []
    assert status.startswith("OK [CAPABILITY IMAP4rev1 ") and status.endswith("] Logged in")
    assert "APPENDLIMIT=" in status and "STARTTLS" not in status


async def test_login_twice_is_refused(wire):
    c = await wire()
    assert await c.no(f"LOGIN {USER} {PASSWORD}") == "NO Command not allowed in this state"


async def test_bad_password(wire):
    c = await wire(login=False)
    assert await c.no(f"LOGIN {USER} wrong") == "NO [AUTHENTICATIONFAILED] Authentication failed"
    assert await c.no("SELECT INBOX") == "NO Log in first"
    await c.ok(f"LOGIN {USER} {PASSWORD}")


async def test_imap_disabled_for_account(imap, wire):
    await imap.add_user("off@example.org", "pw-off-123", imap_enabled=False)
    c = await wire(login=False)
    status = await c.no('LOGIN off@example.org "pw-off-123"')
    assert status == "NO [UNAVAILABLE] IMAP is disabled for this account"


async def test_authenticate_plain_sasl_ir(wire):
    c = await wire(login=False)
    _, status = await c.cmd("AUTHENTICATE PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))
    assert status.startswith("OK [CAPABILITY ")


async def test_authenticate_plain_with_continuation(wire):
    c = await wire(login=False)
    await c.send("a AUTHENTICATE PLAIN\r\n")
    assert await c.line() == "+ "
    await c.send(b64(f"\0{USER}\0{PASSWORD}") + "\r\n")
    _, status = await c.until_tagged("a")
    assert status.startswith("OK [CAPABILITY")


async def test_authenticate_login_mechanism(wire):
    c = await wire(login=False)
    await c.send("a AUTHENTICATE LOGIN\r\n")
    assert await c.line() == "+ VXNlcm5hbWU6"
    await c.send(b64(USER) + "\r\n")
    assert await c.line() == "+ UGFzc3dvcmQ6"
    await c.send(b64("nope") + "\r\n")
    _, status = await c.until_tagged("a")
    assert status == "NO [AUTHENTICATIONFAILED] Authentication failed"


async def test_authenticate_cancel_and_garbage(wire):
    c = await wire(login=False)
    await c.send("a AUTHENTICATE PLAIN\r\n")
    assert await c.line() == "+ "
    await c.send("*\r\n")
    assert (await c.until_tagged("a"))[1] == "BAD Authentication cancelled"
    await c.send("b AUTHENTICATE PLAIN\r\n")
    await c.line()
    await c.send("!!!\r\n")
    assert (await c.until_tagged("b"))[1] == "BAD Invalid base64 in SASL response"
    assert await c.no("AUTHENTICATE CRAM-MD5") == "NO [CANNOT] Unsupported authentication mechanism"
    assert await c.bad("AUTHENTICATE PLAIN " + b64("nonsense")) == "BAD Invalid SASL response"


async def test_logout(wire):
    c = await wire()
    untagged, status = await c.cmd("LOGOUT")
    assert untagged == ["* BYE Logging out"]
    assert status == "OK LOGOUT completed"
    assert await c.reader.read() == b""


async def test_noop_id_namespace_enable(wire):
    c = await wire()
    assert await c.ok("NOOP") == []
    assert await c.ok('ID ("name" "test")') == ['* ID ("name" "postfach" "vendor" "postfach")']
    assert await c.ok("NAMESPACE") == ['* NAMESPACE (("" "/")) NIL NIL']
    assert await c.ok("ENABLE CONDSTORE X-UNKNOWN") == ["* ENABLED CONDSTORE"]
    assert await c.ok("ENABLE CONDSTORE") == ["* ENABLED"]
    assert await c.ok("ENABLE IMAP4rev2 UTF8=ACCEPT") == ["* ENABLED IMAP4rev2 UTF8=ACCEPT"]


async def test_enable_needs_login(wire):
    c = await wire(login=False)
    assert await c.no("ENABLE CONDSTORE") == "NO Log in first"


async def test_logindisabled_without_tls_then_starttls(tmp_path):
    async with make_server(tmp_path, auth={"allow_plaintext": False}) as srv:
        await srv.add_user(USER, PASSWORD)
        c = await Wire.connect(srv.host, srv.port("imap"))
        untagged, _ = await c.cmd("CAPABILITY")
        assert "LOGINDISABLED" in untagged[0] and "AUTH=PLAIN" not in untagged[0]
        status = await c.no(f"LOGIN {USER} {PASSWORD}")
        assert status.startswith("NO [PRIVACYREQUIRED]")
        untagged, status = await c.cmd("STARTTLS")
        assert status == "OK Begin TLS negotiation now"
        await c.writer.start_tls(insecure_tls_context())
        untagged, _ = await c.cmd("CAPABILITY")
        assert "AUTH=PLAIN" in untagged[0] and "STARTTLS" not in untagged[0]
        await c.ok(f"LOGIN {USER} {PASSWORD}")
        await c.close()


async def test_imaps_with_imaplib(imap):
    context = insecure_tls_context()

    def run() -> list[bytes]:
        with imaplib.IMAP4_SSL(imap.host, imap.port("imaps"), ssl_context=context) as client:
            client.login(USER, PASSWORD)
            typ, data = client.select("INBOX")
            assert typ == "OK"
            return data

    assert await asyncio.to_thread(run) == [b"0"]


async def test_logout_everywhere_ends_sessions(imap, wire):
    idle = await wire(select="INBOX")
    waiting = await wire()
    await idle.send("i IDLE\r\n")
    assert await idle.line() == "+ idling"
    account = await imap.ctx.store.accounts.get_account(USER)
    await imap.ctx.store.accounts.bump_credentials(account.id)
    assert await idle.line() == "* BYE Logged out on all devices"
    assert await waiting.line() == "* BYE Logged out on all devices"
    assert await waiting.reader.read() == b""


@pytest.mark.parametrize("line", ["GET / HTTP/1.1", "a1 FROB", "a1 LOGIN", '"x" NOOP'])
async def test_garbage_keeps_session(wire, line):
    c = await wire(login=False)
    await c.send(line + "\r\n")
    assert " BAD " in (await c.line())
    await c.ok("NOOP")
