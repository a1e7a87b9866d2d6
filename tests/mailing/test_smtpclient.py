"""The mailing SMTP client over loopback: aiosmtpd servers, and scripted ones for the odd cases.

aiosmtpd stands for a well-behaved relay (with and without PIPELINING, AUTH,
STARTTLS, implicit TLS, refusals at MAIL, RCPT and after the content, a
connection closed mid-transaction). A scripted server plays what aiosmtpd will
not: DATA refused, 354 after a refused recipient, replies held back until a
whole group arrived (proof of pipelining), garbage, silence, STARTTLS injection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.mailing.smtpclient import (
    Delivery,
    Envelope,
    SmtpClient,
    SmtpError,
    SmtpLost,
    SmtpRefused,
)
from postfach.net.tls import make_self_signed

QUICK = 2.0  # seconds: a client that waits for a reply that cannot come fails fast


# -- aiosmtpd ------------------------------------------------------------------


@dataclass
class Handler:
    pipelining: bool = True
    mail: dict[str, str] = field(default_factory=dict)  # sender -> reply
    rcpt: dict[str, str] = field(default_factory=dict)  # recipient -> reply
    content: dict[str, str] = field(default_factory=dict)  # recipient -> final reply
    close_at_rcpt: str = ""  # 421 and close at this recipient
    crash_after_content: str = ""  # drop the connection instead of the final reply
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.mail:
            return self.mail[address]
        envelope.mail_from = address
        self.mail_options.append(list(options))
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == self.close_at_rcpt:
            server.transport.write(b"421 4.3.2 Service shutting down\r\n")
            server.transport.close()
            return "421 4.3.2 Service shutting down"
        if address in self.rcpt:
            return self.rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        if rcpt == self.crash_after_content:
            server.transport.abort()
            return "250 never seen"
        if rcpt in self.content:
            return self.content[rcpt]
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


Start = Callable[..., Awaitable[int]]


@pytest.fixture
async def aiosmtpd_server() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, tls: ssl.SSLContext | None = None, **kwargs: Any) -> int:
        kwargs.setdefault("hostname", "relay.test")
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, decode_data=False, **kwargs), "127.0.0.1", 0, ssl=tls
        )
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


async def connect(port: int, **kwargs: Any) -> SmtpClient:
    kwargs.setdefault("timeout", QUICK)
    return await SmtpClient.connect("127.0.0.1", port, local_hostname="client.test", **kwargs)


def env(rcpt: str, data: bytes = b"Subject: hi\r\n\r\nhello\r\n", sender: str = "a@s.test"):
    return Envelope(sender, rcpt, data)


@pytest.mark.parametrize("pipelining", [True, False])
async def test_many_messages_on_one_connection(aiosmtpd_server: Start, pipelining: bool):
    handler = Handler(pipelining=pipelining)
    client = await connect(await aiosmtpd_server(handler))
    assert ("PIPELINING" in client.extensions) is pipelining
    tricky = b"Subject: dots\r\n\r\n.starts with a dot\r\n.\r\nbare\nlf\r\nend"
    done, lost = await client.send_many(
        [env("r1@d.test"), env("r2@d.test", tricky), env("r3@d.test", "ü\r\n".encode())]
    )
    await client.quit()
    assert lost == "" and [d.accepted for d in done] == [True, True, True]
    assert [d.reply.words() for d in done if d.reply] == [
        f"250 2.0.0 Ok: queued as Q{i}" for i in (1, 2, 3)
    ]
    assert [r[1] for r in handler.received] == [["r1@d.test"], ["r2@d.test"], ["r3@d.test"]]
    assert handler.received[1][2] == (
        b"Subject: dots\r\n\r\n.starts with a dot\r\n.\r\nbare\r\nlf\r\nend\r\n"
    )
    assert handler.mail_options == [[], [], ["BODY=8BITMIME"]]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_refusals_at_each_step_keep_the_session_usable(
    aiosmtpd_server: Start, pipelining: bool
):
    handler = Handler(
        pipelining=pipelining,
        mail={"bad@s.test": "553 5.7.1 Sender address rejected: not owned by auth user"},
        rcpt={
            "gone@d.test": "550 5.1.1 <gone@d.test>: Recipient address rejected",
            "grey@d.test": "451 4.7.1 Greylisted, try again later",
        },
        content={
            "spam@d.test": "554 5.7.1 Message rejected under suspicion of SPAM",
            "busy@d.test": "451 4.3.0 data not accepted",
        },
    )
    client = await connect(await aiosmtpd_server(handler))
    done, lost = await client.send_many(
        [
            env("r@d.test", sender="bad@s.test"),
            env("gone@d.test"),
            env("grey@d.test"),
            env("ok1@d.test"),
            env("spam@d.test"),
            env("busy@d.test"),
            env("ok2@d.test"),
        ]
    )
    await client.quit()
    assert lost == ""
    outcome = [(d.step, d.reply.words() if d.reply else "") for d in done]
    assert outcome == [
        ("MAIL", "553 5.7.1 Sender address rejected: not owned by auth user"),
        ("RCPT", "550 5.1.1 <gone@d.test>: Recipient address rejected"),
        ("RCPT", "451 4.7.1 Greylisted, try again later"),
        (".", "250 2.0.0 Ok: queued as Q1"),
        (".", "554 5.7.1 Message rejected under suspicion of SPAM"),
        (".", "451 4.3.0 data not accepted"),
        (".", "250 2.0.0 Ok: queued as Q2"),
    ]
    # The refused RCPTs left transactions open: RSET made room for the next MAIL.
    assert [r[1] for r in handler.received] == [["ok1@d.test"], ["ok2@d.test"]]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_server_closing_mid_transaction(aiosmtpd_server: Start, pipelining: bool):
    handler = Handler(pipelining=pipelining, close_at_rcpt="r2@d.test")
    client = await connect(await aiosmtpd_server(handler))
    done, lost = await client.send_many([env(f"r{i}@d.test") for i in range(1, 5)])
    assert [d.accepted for d in done] == [True, False]
    assert "421 4.3.2 Service shutting down" in lost and not done[1].permanent
    if pipelining:  # the 421 came with the replies to the group, then the end
        assert done[1].reply is None and done[1].note == lost
    else:
        assert done[1].reply is not None and done[1].reply.code == 421
    await client.quit()  # harmless on a dead connection


@pytest.mark.parametrize("pipelining", [True, False])
async def test_connection_dropped_after_the_content(aiosmtpd_server: Start, pipelining: bool):
    handler = Handler(pipelining=pipelining, crash_after_content="r2@d.test")
    client = await connect(await aiosmtpd_server(handler))
    done, lost = await client.send_many([env(f"r{i}@d.test") for i in range(1, 5)])
    # The second message's fate is unknown: no reply, tried again later. Pipelined, the
    # third one's envelope went out with the second's content: it is under way too.
    under_way = 2 if pipelining else 1
    assert [d.accepted for d in done] == [True] + [False] * under_way
    assert all(d.reply is None and d.note == lost for d in done[1:])
    assert "closed the connection" in lost


async def test_local_refusals_never_reach_the_server(aiosmtpd_server: Start):
    handler = Handler()
    client = await connect(await aiosmtpd_server(handler, data_size_limit=200))
    assert "SMTPUTF8" not in client.extensions
    done, lost = await client.send_many(
        [
            env("evil@d.test>\r\nRCPT TO:<victim@d.test"),
            env("ü@d.test"),
            env("big@d.test", b"x" * 300),
            env("ok@d.test"),
        ]
    )
    assert lost == ""
    assert [(d.reply, d.permanent) for d in done[:3]] == [(None, True)] * 3
    assert "cannot be sent" in done[0].note and "SMTPUTF8" in done[1].note
    assert "exceeds the relay's SIZE 200" in done[2].note
    assert done[3].accepted and [r[1] for r in handler.received] == [["ok@d.test"]]


async def test_smtputf8_when_offered(aiosmtpd_server: Start):
    handler = Handler()
    client = await connect(await aiosmtpd_server(handler, enable_SMTPUTF8=True))
    done, _ = await client.send_many([env("ü@d.test", sender="ä@s.test")])
    assert done[0].accepted and handler.received[0][:2] == ("ä@s.test", ["ü@d.test"])
    assert "SMTPUTF8" in handler.mail_options[0]


# -- AUTH ----------------------------------------------------------------------


def authenticator(login: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == login
            and data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def auth_kwargs(exclude: list[str]) -> dict[str, Any]:
    return {
        "authenticator": authenticator("news", "pässwörd"),
        "auth_required": True,
        "auth_require_tls": False,
        "auth_exclude_mechanism": exclude,
    }


@pytest.mark.parametrize("exclude", [[], ["PLAIN"]])  # PLAIN, then LOGIN
async def test_login(aiosmtpd_server: Start, exclude: list[str]):
    handler = Handler()
    client = await connect(await aiosmtpd_server(handler, **auth_kwargs(exclude)))
    await client.login("news", "pässwörd")
    done, _ = await client.send_many([env("r@d.test")])
    assert done[0].accepted


@pytest.mark.parametrize("exclude", [[], ["PLAIN"]])
async def test_login_refused_names_the_reply_never_the_password(
    aiosmtpd_server: Start, exclude: list[str]
):
    client = await connect(await aiosmtpd_server(Handler(), **auth_kwargs(exclude)))
    with pytest.raises(SmtpRefused) as caught:
        await client.login("news", "wrong-secret")
    assert caught.value.reply.code == 535 and caught.value.step == "AUTH"
    assert "wrong-secret" not in str(caught.value)
    client.abort()


async def test_sending_without_login_where_one_is_required(aiosmtpd_server: Start):
    client = await connect(await aiosmtpd_server(Handler(), **auth_kwargs([])))
    done, lost = await client.send_many([env("r@d.test"), env("s@d.test")])
    assert lost == "" and [d.step for d in done] == ["MAIL", "MAIL"]
    assert done[0].reply is not None and done[0].reply.code == 530


# -- TLS -----------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting exactly that certificate)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_starttls_then_login(aiosmtpd_server: Start, tls: tuple[ssl.SSLContext, ...]):
    server_ctx, client_ctx = tls
    kwargs = auth_kwargs([]) | {"auth_require_tls": True, "require_starttls": True}
    handler = Handler()
    port = await aiosmtpd_server(handler, tls_context=server_ctx, **kwargs)
    client = await SmtpClient.connect(
        "localhost", port, local_hostname="c.test", security="starttls", tls_context=client_ctx
    )
    assert "AUTH" in client.extensions and "STARTTLS" not in client.extensions
    await client.login("news", "pässwörd")
    done, _ = await client.send_many([env("r@d.test")])
    await client.quit()
    assert done[0].accepted and len(handler.received) == 1


async def test_implicit_tls(aiosmtpd_server: Start, tls: tuple[ssl.SSLContext, ...]):
    server_ctx, client_ctx = tls
    handler = Handler()
    port = await aiosmtpd_server(handler, tls=server_ctx)
    client = await SmtpClient.connect(
        "localhost", port, local_hostname="c.test", security="tls", tls_context=client_ctx
    )
    done, _ = await client.send_many([env("r1@d.test"), env("r2@d.test")])
    await client.quit()
    assert [d.accepted for d in done] == [True, True]


async def test_untrusted_certificate_is_refused(
    aiosmtpd_server: Start, tls: tuple[ssl.SSLContext, ...]
):
    port = await aiosmtpd_server(Handler(), tls=tls[0])
    with pytest.raises(ssl.SSLCertVerificationError):
        await SmtpClient.connect("localhost", port, local_hostname="c.test", security="tls")


async def test_starttls_not_offered(aiosmtpd_server: Start):
    port = await aiosmtpd_server(Handler())
    with pytest.raises(SmtpLost, match="does not offer STARTTLS"):
        await connect(port, security="starttls")


# -- scripted servers ----------------------------------------------------------

Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """The server side of one scripted session; `log` keeps every line it read."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.log: list[bytes] = []

    async def line(self) -> bytes:
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("client went away")
        self.log.append(line.rstrip(b"\r\n"))
        return line

    async def lines(self, count: int) -> list[bytes]:
        return [await self.line() for _ in range(count)]

    async def content(self) -> bytes:
        data = b""
        while (line := await self.reader.readline()) != b".\r\n":
            if not line:
                raise ConnectionResetError("client went away")
            data += line
        self.log.append(b".")
        return data

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def hello(self, ehlo: bytes = b"250-s.test\r\n250 PIPELINING\r\n") -> None:
        self.send(b"220 s.test ESMTP\r\n")
        await self.line()
        self.send(ehlo)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Awaitable[tuple[int, list[Peer]]]]]:
    servers: list[asyncio.Server] = []
    errors: list[BaseException] = []

    async def start(script: Script) -> tuple[int, list[Peer]]:
        peers: list[Peer] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = Peer(reader, writer)
            peers.append(peer)
            try:
                await script(peer)
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            except BaseException as exc:  # a broken script must fail the test
                errors.append(exc)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1]), peers

    yield start
    for server in servers:
        server.close()
    assert not errors, errors


async def test_pipelining_groups_content_with_the_next_envelope(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello()
        # Nothing is answered until the whole group is in: a lock-step client would hang.
        await peer.lines(3)
        peer.send(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
        await peer.content()
        await peer.lines(3)
        peer.send(b"250 2.0.0 first\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
        await peer.content()
        peer.send(b"250 2.0.0 second\r\n")
        await peer.line()
        peer.send(b"221 bye\r\n")

    port, peers = await scripted(script)
    client = await connect(port)
    done, lost = await client.send_many([env("r1@d.test"), env("r2@d.test")])
    await client.quit()
    assert lost == "" and [d.reply.words() for d in done if d.reply] == [
        "250 2.0.0 first",
        "250 2.0.0 second",
    ]
    assert peers[0].log[1:] == [
        b"MAIL FROM:<a@s.test>",
        b"RCPT TO:<r1@d.test>",
        b"DATA",
        b".",
        b"MAIL FROM:<a@s.test>",
        b"RCPT TO:<r2@d.test>",
        b"DATA",
        b".",
        b"QUIT",
    ]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_data_refused_then_rset(scripted, pipelining: bool):
    async def script(peer: Peer) -> None:
        await peer.hello(b"250-s.test\r\n250 PIPELINING\r\n" if pipelining else b"250 s.test\r\n")
        answers = [b"250 ok\r\n", b"250 ok\r\n", b"554 5.3.0 no DATA for you\r\n"]
        await _answer(peer, answers, pipelining)
        answers = [b"250 reset\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"]
        await _answer(peer, answers, pipelining)
        await peer.content()
        peer.send(b"250 2.0.0 taken\r\n")

    port, peers = await scripted(script)
    client = await connect(port)
    done, lost = await client.send_many([env("r1@d.test"), env("r2@d.test")])
    assert lost == ""
    assert [(d.step, d.reply.words() if d.reply else "") for d in done] == [
        ("DATA", "554 5.3.0 no DATA for you"),
        (".", "250 2.0.0 taken"),
    ]
    assert peers[0].log[4] == b"RSET"


async def _answer(peer: Peer, replies: list[bytes], grouped: bool) -> None:
    if grouped:
        await peer.lines(len(replies))
        peer.send(b"".join(replies))
        return
    for reply in replies:
        await peer.line()
        peer.send(reply)


async def test_354_after_a_refused_recipient_sends_an_empty_message(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello()
        await peer.lines(3)
        peer.send(b"250 ok\r\n550 5.1.1 no such user\r\n354 go anyway\r\n")
        assert await peer.content() == b""
        peer.send(b"554 5.5.1 no valid recipients\r\n")

    port, _ = await scripted(script)
    client = await connect(port)
    done, lost = await client.send_many([env("gone@d.test")])
    assert lost == "" and done[0].step == "RCPT" and done[0].reply is not None
    assert done[0].reply.words() == "550 5.1.1 no such user"


async def test_cram_md5(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello(b"250-s.test\r\n250 AUTH CRAM-MD5\r\n")
        await peer.line()
        peer.send(b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
        answer = await peer.line()
        ok = answer == b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
        peer.send(b"235 ok\r\n" if ok else b"535 no\r\n")

    port, _ = await scripted(script)
    client = await connect(port)
    await client.login("tim", "tanstaaftanstaaf")  # RFC 2195 §2
    client.abort()


async def test_no_known_auth_mechanism(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello(b"250-s.test\r\n250 AUTH GSSAPI XOAUTH2\r\n")
        await peer.line()

    port, _ = await scripted(script)
    client = await connect(port)
    with pytest.raises(SmtpError, match="AUTH GSSAPI XOAUTH2"):
        await client.login("u", "p")
    client.abort()


async def test_greeting_refusal_and_helo_fallback(scripted):
    async def refusing(peer: Peer) -> None:
        peer.send(b"554 5.7.1 go away\r\n")

    port, _ = await scripted(refusing)
    with pytest.raises(SmtpRefused, match="greeting: 554 5.7.1 go away"):
        await connect(port)

    async def old(peer: Peer) -> None:
        peer.send(b"220 old.test\r\n")
        await peer.line()
        peer.send(b"502 5.5.2 what is EHLO\r\n")
        await peer.line()
        peer.send(b"250 old.test\r\n")

    port, peers = await scripted(old)
    client = await connect(port)
    assert client.extensions == {} and peers[0].log == [b"EHLO client.test", b"HELO client.test"]
    client.abort()


async def test_starttls_injection_is_refused(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello(b"250-s.test\r\n250 STARTTLS\r\n")
        await peer.line()
        peer.send(b"220 go ahead\r\n250 injected before the handshake\r\n")
        await peer.line()

    port, _ = await scripted(script)
    with pytest.raises(SmtpLost, match="after agreeing to STARTTLS"):
        await connect(port, security="starttls")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n", "not SMTP"),
        (b"250 ok\r\n250 and one more\r\n", "reply to no command"),
        (b"", "did not answer within"),
        (b"250-never ending\r\n", "did not answer within"),
    ],
)
async def test_broken_servers_end_cleanly(scripted, reply: bytes, error: str):
    async def script(peer: Peer) -> None:
        await peer.hello(b"250 s.test\r\n")
        await peer.line()
        peer.send(reply)
        await peer.reader.read()  # hold the connection open until the client leaves

    port, _ = await scripted(script)
    client = await connect(port, timeout=0.3)
    done, lost = await client.send_many([env("r1@d.test"), env("r2@d.test")])
    if "no command" in error:  # the first message got its MAIL reply, then the extra one
        assert done[0].reply is None or done[0].step != "."
    assert error in lost and all(not d.accepted for d in done)
    client.abort()


async def test_cancelled_midway_the_connection_is_dropped_not_quit(scripted):
    async def script(peer: Peer) -> None:
        await peer.hello()
        await peer.lines(3)
        await peer.reader.read()  # never answers; the client goes away

    port, peers = await scripted(script)
    client = await connect(port, timeout=30)
    task = asyncio.create_task(client.send_many([env("r@d.test")]))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(1):
        await client.quit()  # a QUIT now would land in the middle of a transaction
    await asyncio.sleep(0.05)
    assert b"QUIT" not in peers[0].log


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ehlo=st.binary(max_size=200), mail=st.binary(max_size=200), hang_up=st.booleans())
def test_arbitrary_server_bytes_never_hang(ehlo: bytes, mail: bytes, hang_up: bool):
    async def run() -> list[Delivery] | str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"220 s.test\r\n")
            await reader.readline()
            writer.write(ehlo + mail)
            if not hang_up:  # stay silent: the client's timeout has to end it
                await reader.read()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with asyncio.timeout(5):  # the client's own timeouts must fire first
                client = await connect(port, timeout=0.05)
                done, _ = await client.send_many([env("r@d.test")])
                client.abort()
                return done
        except (SmtpError, OSError) as exc:  # OSError: connect's documented failure
            # (a loaded machine may not even connect within the 50 ms: TimeoutError)
            return str(exc)
        finally:
            server.close()

    asyncio.run(run())
