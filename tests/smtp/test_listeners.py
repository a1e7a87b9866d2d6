"""Over the wire: each listener's role, AUTH, STARTTLS and the DESIGN.md error table."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from pathlib import Path

import aiosmtplib
import pytest

from harness import TestServer, make_server
from postfach.smtp import replies
from support.net import insecure_tls_context

from .smtpmailbox import messages_in
from .smtpwire import Wire, reply_of

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
# What a stranger sends to the MX: without AUTH, From: may not name our own domain (issue 16).
STRANGER = MESSAGE.replace(b"From: a@example.org", b"From: x@y.test")


def text_of(reply: replies.Reply) -> str:
    return reply_of(reply)[1]


async def session(server: TestServer, listener: str = "smtp", tls: bool = False) -> Wire:
    wire = await Wire.open(server.host, server.port(listener), tls=tls)
    await wire.start()
    return wire


async def send_data(wire: Wire, body: bytes = MESSAGE) -> tuple[int, str]:
    await wire.expect("DATA", 354)
    await wire.send(body + b".\r\n")
    return await wire.reply()


async def test_ehlo_lists_the_extensions(server: TestServer) -> None:
    wire = await session(server)
    text = await wire.expect("EHLO client.example", 250)
    for keyword in (
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "CHUNKING",
        "STARTTLS",
        "AUTH PLAIN LOGIN",
    ):
        assert keyword in text.split("\n"), keyword
    assert f"SIZE {server.ctx.config.limits.max_message_size}" in text
    await wire.expect("QUIT", 221)


async def test_mx_delivers_locally_with_authentication_results(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    await wire.expect("MAIL FROM:<someone@sender.test>", 250)
    await wire.expect("RCPT TO:<B@Example.org>", 250)
    assert (await send_data(wire, STRANGER))[0] == 250
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert b"Authentication-Results: mail.example.org; spf=none" in raw
    assert b"dkim=none" in raw
    assert raw.endswith(STRANGER)


async def test_mx_unknown_user_and_relay(server: TestServer) -> None:
    wire = await session(server)
    await wire.expect("MAIL FROM:<someone@sender.test>", 250)
    assert await wire.cmd("RCPT TO:<nobody@example.org>") == reply_of(replies.UNKNOWN_USER)
    assert await wire.cmd("RCPT TO:<x@elsewhere.test>") == reply_of(replies.RELAY_DENIED)
    assert await wire.cmd("DATA") == reply_of(replies.NO_VALID_RECIPIENTS)


async def test_submission_requires_auth(server: TestServer) -> None:
    for listener in ("submission", "submissions", "devices"):
        wire = await session(server, listener, tls=listener == "submissions")
        assert await wire.cmd("MAIL FROM:<a@example.org>") == reply_of(replies.AUTH_REQUIRED)
        await wire.close()


async def test_bad_credentials_on_each_listener(server: TestServer) -> None:
    await server.add_user("a@example.org", "right")
    for listener in ("smtp", "submission", "submissions", "devices"):
        wire = await session(server, listener, tls=listener == "submissions")
        # "\0a@example.org\0wrong"
        got = await wire.cmd("AUTH PLAIN AGFAZXhhbXBsZS5vcmcAd3Jvbmc=")
        assert got == reply_of(replies.BAD_CREDENTIALS), listener
        await wire.login("a@example.org", "right")
        await wire.close()


async def test_auth_login_and_cancel(server: TestServer) -> None:
    await server.add_user("a@example.org", "right")
    wire = await session(server, "submission")
    assert await wire.cmd("AUTH LOGIN") == (334, "VXNlcm5hbWU6")
    assert await wire.cmd("YUBleGFtcGxlLm9yZw==") == (334, "UGFzc3dvcmQ6")
    assert (await wire.cmd("cmlnaHQ="))[0] == 235
    assert await wire.cmd("AUTH PLAIN") == reply_of(replies.ALREADY_AUTHENTICATED)
    other = await session(server, "submission")
    assert await other.cmd("AUTH PLAIN") == (334, "")
    assert await other.cmd("*") == reply_of(replies.AUTH_CANCELLED)
    assert await other.cmd("AUTH CRAM-MD5") == reply_of(replies.UNKNOWN_MECHANISM)
    assert await other.cmd("AUTH PLAIN !!!") == reply_of(replies.AUTH_MALFORMED)


async def test_auth_login_refuses_a_non_utf8_username_at_once(server: TestServer) -> None:
    """The shared SASL exchange refuses a user name that is not UTF-8 before asking
    for the password, as IMAP and POP3 do (SMTP used to ask for the password first)."""
    await server.add_user("a@example.org", "right")
    wire = await session(server, "submission")
    assert await wire.cmd("AUTH LOGIN") == (334, "VXNlcm5hbWU6")
    assert await wire.cmd("/w==") == reply_of(replies.AUTH_MALFORMED)  # b"\xff"
    assert await wire.cmd("AUTH LOGIN /w==") == reply_of(replies.AUTH_MALFORMED)
    await wire.login("a@example.org", "right")
    await wire.close()


async def test_sender_ownership(server: TestServer) -> None:
    account = await server.add_user("a@example.org", "pw")
    await server.ctx.store.accounts.add_alias("alias@example.org", account.address)
    await server.add_user("b@example.org", "pw")
    wire = await session(server, "submission")
    await wire.login("a@example.org", "pw")
    assert await wire.cmd("MAIL FROM:<b@example.org>") == reply_of(replies.SENDER_NOT_OWNED)
    await wire.expect("MAIL FROM:<alias@example.org>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    forged = MESSAGE.replace(b"From: a@example.org", b"From: Boss <b@example.org>")
    assert await send_data(wire, forged) == reply_of(replies.SENDER_NOT_OWNED)
    await wire.expect("MAIL FROM:<A@example.org>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    assert (await send_data(wire))[0] == 250
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 1


async def test_smtplib_submission_saves_to_sent(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw", save_sent=True)
    await server.add_user("b@example.org", "pw")

    def send() -> None:
        with smtplib.SMTP(server.host, server.port("submission"), timeout=10) as client:
            client.starttls(context=insecure_tls_context())
            client.login("a@example.org", "pw")
            client.sendmail("a@example.org", ["b@example.org"], MESSAGE)

    await asyncio.to_thread(send)
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 1
    [sent] = await messages_in(server.ctx.store, "a@example.org", "Sent")
    assert sent.endswith(MESSAGE)


async def test_submissions_implicit_tls_with_smtplib(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")

    def send() -> None:
        with smtplib.SMTP_SSL(
            server.host, server.port("submissions"), context=insecure_tls_context(), timeout=10
        ) as client:
            client.login("a", "pw")  # the bare local part on a one-domain server (R1)
            client.sendmail("a@example.org", ["b@example.org"], MESSAGE)

    await asyncio.to_thread(send)
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 1


async def test_aiosmtplib_starttls_and_auth(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")
    await aiosmtplib.send(
        MESSAGE,
        sender="a@example.org",
        recipients=["b@example.org"],
        hostname=server.host,
        port=server.port("submission"),
        username="a@example.org",
        password="pw",
        start_tls=True,
        validate_certs=False,
    )
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 1


async def test_auth_needs_tls_without_allow_plaintext(tmp_path: Path) -> None:
    async with make_server(tmp_path, auth={"allow_plaintext": False}) as server:
        await server.add_user("a@example.org", "pw")
        wire = await session(server, "submission")
        text = await wire.expect("EHLO c", 250)
        assert "AUTH PLAIN LOGIN" not in text
        assert await wire.cmd("AUTH PLAIN AGFAZXhhbXBsZS5vcmcAcHc=") == reply_of(
            replies.ENCRYPTION_REQUIRED
        )
        await wire.starttls()
        text = await wire.expect("EHLO c", 250)
        assert "AUTH PLAIN LOGIN" in text and "STARTTLS" not in text
        await wire.login("a@example.org", "pw")
        assert await wire.cmd("STARTTLS") == reply_of(replies.TLS_ACTIVE)
        # devices takes plaintext AUTH whatever the setting (R7)
        devices = await session(server, "devices")
        await devices.login("a@example.org", "pw")


async def test_starttls_discards_injected_plaintext(server: TestServer) -> None:
    wire = await session(server, "submission")
    await wire.send("STARTTLS\r\nNOOP")  # NOOP sent in clear, pipelined after STARTTLS
    assert (await wire.reply())[0] == 220
    await wire.writer.start_tls(insecure_tls_context())
    # The injected NOOP must not be answered inside TLS: the first reply is EHLO's.
    code, text = await wire.cmd("EHLO again")
    assert code == 250 and "Hello again" in text


async def test_devices_local_only(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    wire = await session(server, "devices")
    await wire.login("a@example.org", "pw")
    await wire.expect("MAIL FROM:<a@example.org>", 250)
    assert await wire.cmd("RCPT TO:<x@elsewhere.test>") == reply_of(replies.LOCAL_ONLY)
    await wire.expect("RCPT TO:<a@example.org>", 250)
    assert (await send_data(wire))[0] == 250


async def test_size_limits(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"max_message_size": 1000}) as server:
        await server.add_user("b@example.org", "pw")
        wire = await session(server)
        assert await wire.cmd("MAIL FROM:<x@y.test> SIZE=1001") == reply_of(replies.TOO_BIG)
        await wire.expect("MAIL FROM:<x@y.test> SIZE=900", 250)
        await wire.expect("RCPT TO:<b@example.org>", 250)
        assert await send_data(wire, STRANGER + (b"x" * 98 + b"\r\n") * 10) == reply_of(
            replies.TOO_BIG
        )
        # the session goes on
        await wire.expect("MAIL FROM:<x@y.test>", 250)
        await wire.expect("RCPT TO:<b@example.org>", 250)
        assert (await send_data(wire, STRANGER))[0] == 250


async def test_quota_replies(server: TestServer) -> None:
    account = await server.add_user("full@example.org", "pw", quota_bytes=2000)
    wire = await session(server)
    await wire.expect("MAIL FROM:<x@y.test> SIZE=5000", 250)
    assert await wire.cmd("RCPT TO:<full@example.org>") == reply_of(replies.MAILBOX_FULL)
    await wire.expect("RSET", 250)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<full@example.org>", 250)
    big = STRANGER + (b"x" * 98 + b"\r\n") * 20
    assert await send_data(wire, big) == reply_of(replies.MAILBOX_FULL)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<full@example.org>", 250)
    assert (await send_data(wire, STRANGER + (b"x" * 98 + b"\r\n") * 10))[0] == 250
    await server.ctx.store.accounts.update_account(account.id, quota_bytes=1000)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    assert await wire.cmd("RCPT TO:<full@example.org>") == reply_of(replies.MAILBOX_FULL_TEMP)


async def test_recipient_cap(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"max_recipients": 2}) as server:
        for name in "abc":
            await server.add_user(f"{name}@example.org", "pw")
        wire = await session(server)
        await wire.expect("MAIL FROM:<x@y.test>", 250)
        await wire.expect("RCPT TO:<a@example.org>", 250)
        await wire.expect("RCPT TO:<b@example.org>", 250)
        assert await wire.cmd("RCPT TO:<c@example.org>") == reply_of(replies.TOO_MANY_RECIPIENTS)


async def test_spam_is_refused(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    gtube = STRANGER + b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
    assert await send_data(wire, gtube) == reply_of(replies.SPAM)
    assert await messages_in(server.ctx.store, "b@example.org") == []


async def test_pipelined_transactions(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    batch = (
        b"MAIL FROM:<x@y.test>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
        b"DATA\r\n"
    )
    await wire.send(batch)
    assert [(await wire.reply())[0] for _ in range(4)] == [250, 250, 550, 354]
    await wire.send(STRANGER + b".\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    assert [(await wire.reply())[0] for _ in range(4)] == [250, 250, 250, 354]
    await wire.send(STRANGER + b".\r\nQUIT\r\n")
    assert [(await wire.reply())[0] for _ in range(2)] == [250, 221]
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 2


async def test_bdat_chunks(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    head, tail = STRANGER[:20], STRANGER[20:]
    await wire.send(b"MAIL FROM:<x@y.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\n")
    await wire.send(b"BDAT %d\r\n" % len(head) + head + b"BDAT %d LAST\r\n" % len(tail) + tail)
    assert [(await wire.reply())[0] for _ in range(4)] == [250, 250, 250, 250]
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert raw.endswith(STRANGER)
    # BDAT without a transaction: the chunk is read and dropped, the session goes on
    await wire.send(b"BDAT 5 LAST\r\nxxxxxNOOP\r\n")
    assert await wire.reply() == reply_of(replies.NEED_MAIL)
    assert (await wire.reply())[0] == 250


async def test_dsn_success_notification_for_local_delivery(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")
    wire = await session(server, "submission")
    await wire.login("a@example.org", "pw")
    await wire.expect("MAIL FROM:<a@example.org> RET=HDRS ENVID=env+2B42", 250)
    await wire.expect("RCPT TO:<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;b@example.org", 250)
    assert (await send_data(wire))[0] == 250
    [report] = await messages_in(server.ctx.store, "a@example.org")
    assert b"From: Mail Delivery System <MAILER-DAEMON@mail.example.org>" in report
    assert b"Original-Envelope-Id: env+42" in report
    assert b"Action: delivered" in report
    assert b"Original-Recipient: rfc822; b@example.org" in report
    assert b"text/rfc822-headers" in report


async def test_smuggling_is_one_message(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    await wire.expect("DATA", 354)
    smuggled = STRANGER + b"\n.\nMAIL FROM:<evil@y.test>\nRCPT TO:<b@example.org>\nDATA\nSmuggled\n"
    await wire.send(smuggled + b"\r\n.\r\n")
    assert (await wire.reply())[0] == 250
    await wire.expect("NOOP", 250)
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert b"Smuggled" in raw


async def test_malformed_commands_and_error_limit(server: TestServer) -> None:
    wire = await session(server)
    assert await wire.cmd("RCPT TO:<b@example.org>") == reply_of(replies.NEED_MAIL)
    assert await wire.cmd("BOGUS") == reply_of(replies.SYNTAX_ERROR)
    assert await wire.cmd(b"\xff\xfe") == reply_of(replies.SYNTAX_ERROR)
    assert await wire.cmd("A" * 20000) == reply_of(replies.LINE_TOO_LONG)
    await wire.expect("NOOP", 250)
    for _ in range(30):
        code, text = await wire.cmd("BOGUS")
        if code == 421:
            break
    assert (code, text) == reply_of(replies.TOO_MANY_ERRORS)
    assert await wire.closed()


async def test_state_errors(server: TestServer) -> None:
    wire = await Wire.open(server.host, server.port("smtp"))
    await wire.reply()
    assert await wire.cmd("MAIL FROM:<x@y.test>") == reply_of(replies.NEED_HELO)
    await wire.expect("HELO c", 250)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    assert await wire.cmd("MAIL FROM:<x@y.test>") == reply_of(replies.NESTED_MAIL)
    assert await wire.cmd("STARTTLS") == reply_of(replies.IN_TRANSACTION)
    assert await wire.cmd("DATA") == reply_of(replies.NO_VALID_RECIPIENTS)
    assert await wire.cmd("VRFY b") == reply_of(replies.CANNOT_VRFY)
    assert await wire.cmd("EXPN b") == reply_of(replies.NOT_IMPLEMENTED)
    assert await wire.cmd("MAIL FROM:<jörg@y.test>") == reply_of(replies.NESTED_MAIL)
    await wire.expect("RSET", 250)
    assert await wire.cmd("MAIL FROM:<jörg@y.test>") == reply_of(replies.NEED_SMTPUTF8)
    await wire.expect("MAIL FROM:<jörg@y.test> SMTPUTF8", 250)


async def test_idle_timeout(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"smtp_timeout": 0.3}) as server:
        wire = await session(server)
        assert await wire.reply() == reply_of(replies.TIMEOUT)
        assert await wire.closed()


async def test_idle_timeout_counts_from_the_last_command(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"smtp_timeout": 0.5}) as server:
        wire = await session(server)
        started = asyncio.get_running_loop().time()
        for _ in range(6):  # 1.2 s of activity, longer than the timeout
            await asyncio.sleep(0.2)
            await wire.expect("NOOP", 250)
        assert await wire.reply() == reply_of(replies.TIMEOUT)
        assert asyncio.get_running_loop().time() - started >= 1.2 + 0.5
        assert await wire.closed()


async def test_connections_per_ip(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"max_connections_per_ip": 2}) as server:
        first, second = await session(server), await session(server)
        third = await Wire.open(server.host, server.port("smtp"))
        assert await third.reply() == reply_of(replies.TOO_MANY_CONNECTIONS)
        await first.expect("NOOP", 250)
        await second.expect("NOOP", 250)


async def test_logout_everywhere_ends_the_session(server: TestServer) -> None:
    account = await server.add_user("a@example.org", "pw")
    wire = await session(server, "submission")
    await wire.login("a@example.org", "pw")
    await server.ctx.store.accounts.bump_credentials(account.id)
    assert await wire.reply() == reply_of(replies.LOGGED_OUT)
    assert await wire.closed()


async def test_no_internal_errors_leak(server: TestServer) -> None:
    """A store failure during delivery is a 451 with no exception text."""
    await server.add_user("b@example.org", "pw")
    wire = await session(server)
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    original = server.ctx.delivery.deliver

    async def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("secret internals")

    server.ctx.delivery.deliver = broken  # type: ignore[method-assign]
    try:
        assert await send_data(wire, STRANGER) == reply_of(replies.TEMP_FAILURE)
    finally:
        server.ctx.delivery.deliver = original  # type: ignore[method-assign]
    await wire.expect("NOOP", 250)


def test_tls_context_is_loaded() -> None:
    assert ssl.OPENSSL_VERSION


@pytest.mark.parametrize("listener", ["smtp", "submission", "devices"])
async def test_quit_everywhere(server: TestServer, listener: str) -> None:
    wire = await session(server, listener)
    assert await wire.cmd("QUIT") == reply_of(replies.BYE)
