"""Logging in over the wire: USER/PASS, AUTH PLAIN/LOGIN, STLS, pop3s, refusals."""

from __future__ import annotations

import base64
import poplib

import pytest

from postfach.pop3 import replies
from support.net import insecure_tls_context

from .helpers import PASSWORD, Wire, connect, in_thread, login

LOGIN_FAILED = b"-ERR [AUTH] login failure or POP3 disabled"


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


async def test_greeting_and_capa_before_login(server):
    def run():
        pop = connect(server)
        welcome = pop.getwelcome()
        caps = pop.capa()
        pop.quit()
        return welcome, caps

    welcome, caps = await in_thread(run)
    assert welcome.startswith(b"+OK mail.example.org")
    assert set(caps) >= {
        "TOP", "UIDL", "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
        "STLS", "EXPIRE", "IMPLEMENTATION",
    }
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["EXPIRE"] == ["NEVER", "USER"]


async def test_user_pass_and_capa_after_login(server):
    await server.add_user("a@example.org", PASSWORD)

    def run():
        pop = login(server)
        caps = pop.capa()
        pop.quit()
        return caps

    caps = await in_thread(run)
    assert caps["EXPIRE"] == ["NEVER"]


async def test_local_part_alone_logs_in(server):
    await server.add_user("a@example.org", PASSWORD)
    pop = await in_thread(login, server, "a")
    assert (await in_thread(pop.quit)).startswith(b"+OK")


async def test_wrong_password_is_the_documented_text(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    assert (await wire.cmd(b"USER a@example.org")).startswith(b"+OK")
    assert await wire.cmd(b"PASS wrong") == LOGIN_FAILED + b"\r\n"
    # The session survives and a second try works.
    await wire.login()
    await wire.close()


async def test_unknown_user_gets_the_same_text(server):
    wire = await Wire.open(server)
    assert (await wire.cmd(b"USER nobody@example.org")).startswith(b"+OK")
    assert await wire.cmd(b"PASS whatever") == LOGIN_FAILED + b"\r\n"
    await wire.close()


async def test_pop3_disabled_is_the_documented_text(server):
    await server.add_user("a@example.org", PASSWORD, pop3_enabled=False)

    def run():
        pop = connect(server)
        pop.user("a@example.org")
        with pytest.raises(poplib.error_proto) as info:
            pop.pass_(PASSWORD)
        pop.quit()
        return info.value.args[0]

    assert await in_thread(run) == LOGIN_FAILED


async def test_pass_without_user(server):
    wire = await Wire.open(server)
    assert await wire.cmd(b"PASS secret") == replies.USER_FIRST
    await wire.close()


async def test_throttled_after_repeated_failures(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    for _ in range(server.ctx.config.auth.max_failures):
        await wire.cmd(b"USER a@example.org")
        assert await wire.cmd(b"PASS wrong") == LOGIN_FAILED + b"\r\n"
    await wire.cmd(b"USER a@example.org")
    assert await wire.cmd(b"PASS " + PASSWORD.encode()) == replies.THROTTLED
    await wire.close()


async def test_auth_plain_with_initial_response(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    reply = await wire.cmd(b"AUTH PLAIN " + b64(f"\0a@example.org\0{PASSWORD}"))
    assert reply.startswith(b"+OK logged in")
    await wire.close()


async def test_auth_plain_with_continuation(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    assert await wire.cmd(b"AUTH PLAIN") == b"+ \r\n"
    reply = await wire.cmd(b64(f"a@example.org\0a@example.org\0{PASSWORD}"))
    assert reply.startswith(b"+OK logged in")
    await wire.close()


async def test_auth_plain_as_another_user_is_refused(server):
    await server.add_user("a@example.org", PASSWORD)
    await server.add_user("b@example.org", PASSWORD)
    wire = await Wire.open(server)
    reply = await wire.cmd(b"AUTH PLAIN " + b64(f"b@example.org\0a@example.org\0{PASSWORD}"))
    assert reply == LOGIN_FAILED + b"\r\n"
    await wire.close()


async def test_auth_login(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    assert await wire.cmd(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6\r\n"
    assert await wire.cmd(b64("a@example.org")) == b"+ UGFzc3dvcmQ6\r\n"
    assert (await wire.cmd(b64(PASSWORD))).startswith(b"+OK logged in")
    await wire.close()


async def test_auth_login_wrong_password(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    await wire.cmd(b"AUTH LOGIN " + b64("a@example.org"))
    assert await wire.cmd(b64("nope")) == LOGIN_FAILED + b"\r\n"
    await wire.close()


async def test_auth_cancel_bad_base64_unknown_mechanism_and_list(server):
    wire = await Wire.open(server)
    assert await wire.cmd(b"AUTH PLAIN") == b"+ \r\n"
    assert await wire.cmd(b"*") == replies.AUTH_CANCELLED
    assert await wire.cmd(b"AUTH PLAIN !!!notbase64") == replies.AUTH_BAD_BASE64
    assert await wire.cmd(b"AUTH CRAM-MD5") == replies.UNKNOWN_MECHANISM
    assert await wire.cmd(b"AUTH") == b"+OK\r\n"
    assert await wire.body() == [b"PLAIN", b"LOGIN"]
    # Still in AUTHORIZATION and working.
    assert await wire.cmd(b"STAT") == replies.NOT_AUTHENTICATED
    await wire.close()


async def test_commands_after_login_that_belong_before(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    await wire.login()
    for line in (b"USER a@example.org", b"PASS x", b"AUTH PLAIN", b"STLS"):
        assert (await wire.cmd(line)).startswith(b"-ERR command not valid after login")
    assert (await wire.cmd(b"NOOP")) == b"+OK\r\n"
    await wire.close()


async def test_stls_then_login(server):
    await server.add_user("a@example.org", PASSWORD)

    def run():
        pop = connect(server)
        pop.stls(context=insecure_tls_context())
        caps = pop.capa()
        pop.user("a@example.org")
        pop.pass_(PASSWORD)
        stat = pop.stat()
        pop.quit()
        return caps, stat

    caps, stat = await in_thread(run)
    assert "STLS" not in caps
    assert stat == (0, 0)


async def test_stls_twice_is_refused(server):
    def run():
        pop = connect(server)
        pop.stls(context=insecure_tls_context())
        try:
            pop._shortcmd("STLS")
        except poplib.error_proto as exc:
            return exc.args[0]
        finally:
            pop.quit()
        return b""

    assert await in_thread(run) == replies.TLS_ACTIVE.rstrip()


async def test_pop3s(server):
    await server.add_user("a@example.org", PASSWORD)

    def run():
        pop = connect(server, tls=True)
        caps = pop.capa()
        pop.user("a@example.org")
        pop.pass_(PASSWORD)
        pop.quit()
        return caps

    caps = await in_thread(run)
    assert "STLS" not in caps
    assert "USER" in caps


async def test_stls_on_pop3s_is_refused(server):
    wire = await Wire.open(server, "pop3s")
    assert await wire.cmd(b"STLS") == replies.TLS_ACTIVE
    await wire.close()


async def test_plaintext_refused_until_stls(make_server, tmp_path):
    async with make_server(tmp_path, auth={"allow_plaintext": False}) as server:
        await server.add_user("a@example.org", PASSWORD)
        wire = await Wire.open(server)
        await wire.send(b"CAPA\r\n")
        assert (await wire.line()).startswith(b"+OK")
        caps = await wire.body()
        assert b"STLS" in caps and b"USER" not in caps
        assert not any(c.startswith(b"SASL") for c in caps)
        assert await wire.cmd(b"USER a@example.org") == replies.PLAINTEXT_REFUSED
        assert await wire.cmd(b"PASS " + PASSWORD.encode()) == replies.PLAINTEXT_REFUSED
        assert await wire.cmd(b"AUTH PLAIN") == replies.PLAINTEXT_REFUSED
        await wire.close()

        def run():
            pop = connect(server)
            pop.stls(context=insecure_tls_context())
            pop.user("a@example.org")
            pop.pass_(PASSWORD)
            pop.quit()

        await in_thread(run)


async def test_cleartext_pipelined_after_stls_is_discarded(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    # A man in the middle appends commands after STLS; they must not run inside TLS.
    await wire.send(b"STLS\r\nUSER a@example.org\r\nPASS " + PASSWORD.encode() + b"\r\n")
    assert await wire.line() == replies.TLS_GO
    await wire.writer.start_tls(insecure_tls_context())
    assert await wire.cmd(b"STAT") == replies.NOT_AUTHENTICATED
    await wire.close()
