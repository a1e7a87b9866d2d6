"""A small asyncio SMTP client for the mailing sender: pipelined, many messages a connection.

Why not aiosmtplib: it waits for each reply in turn (MAIL, RCPT, DATA, the
content), so every message costs four round trips and as many event-loop
wake-ups. Here, when the server offers PIPELINING (RFC 2920), a message costs
one write and one read: the content of message *n* goes out in the same write
as MAIL FROM, RCPT TO and DATA of message *n+1* (RFC 2920 §3.1 allows the
content as the first "command" of a group and DATA as the last), and their
four replies are read together. Without PIPELINING it talks in lock-step.

A refused MAIL, RCPT or DATA leaves the transaction open; RSET goes out at the
head of the next group only then. Each message ends as a `Delivery`: the step
that decided and the server's reply, exactly as sent, or, when it never
reached the server, why. Setup failures raise `SmtpRefused` (a reply the
session cannot go on from: greeting, EHLO, STARTTLS, AUTH) or `SmtpLost`
(connection closed, timed out, or bytes that are not SMTP replies). Neither
text ever holds the password.

Security: implicit TLS (RFC 8314) or STARTTLS (RFC 3207; anything the server
sends after its 220 and before the handshake is refused, RFC 3207 §6) with
EHLO again afterwards; AUTH PLAIN, LOGIN or CRAM-MD5 (RFC 4954), one attempt.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from postfach.mailing.smtpwire import (
    AddressRefused,
    Reply,
    ReplyError,
    ReplyParser,
    auth_cram_md5,
    auth_login_step,
    auth_plain,
    data_block,
    ehlo_keywords,
    mail_command,
    rcpt_command,
)

__all__ = [
    "Delivery",
    "Envelope",
    "SmtpClient",
    "SmtpError",
    "SmtpLost",
    "SmtpRefused",
]

TIMEOUT = 60.0
QUIT_TIMEOUT = 5.0


class SmtpError(Exception):
    """The session cannot go on; the text says why in plain words."""


class SmtpLost(SmtpError):
    """The connection closed, timed out, or carried something that is not SMTP."""


class SmtpRefused(SmtpError):
    """A setup step (greeting, EHLO, STARTTLS, AUTH) got a reply it cannot go on from."""

    def __init__(self, step: str, reply: Reply) -> None:
        super().__init__(f"{step}: {reply.words()}")
        self.step = step
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipient: str
    data: bytes
    clean: bool = False  # CRLF line ends only, as the composer guarantees: not checked again


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one message ended.

    `step` is the command whose reply decided ("MAIL", "RCPT", "DATA", or "."
    for the reply after the content); `reply` is that reply. Without a reply
    the message never reached the server: `note` says why, and `permanent`
    whether trying again could help.
    """

    step: str
    reply: Reply | None
    note: str = ""
    permanent: bool = False

    @property
    def accepted(self) -> bool:
        return self.step == "." and self.reply is not None and 200 <= self.reply.code < 300


class _Wire(asyncio.Protocol):
    """The socket side: bytes in, parsed replies queued, one waiter woken per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop, where: str) -> None:
        self.loop = loop
        self.where = where
        self.parser = ReplyParser()
        self.replies: deque[Reply] = deque()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.want = 0
        self.lost: SmtpLost | None = None
        self.last: Reply | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            replies = self.parser.feed(data)
        except ReplyError as exc:
            self.fail(f"{self.where} sent something that is not SMTP ({exc})")
            return
        if replies:
            self.replies.extend(replies)
            self.last = replies[-1]
            if self.waiter is not None and len(self.replies) >= self.want:
                if not self.waiter.done():
                    self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        closing = self.last is not None and self.last.code == 421
        why = f": {self.last.words()}" if closing and self.last else ""
        detail = f" ({' '.join(str(exc).split())})" if exc is not None and not closing else ""
        self.fail(f"{self.where} closed the connection{why}{detail}")

    def fail(self, why: str) -> None:
        if self.lost is None:
            self.lost = SmtpLost(why)
        if self.transport is not None:
            self.transport.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def write(self, *data: bytes) -> None:
        """Writes the pieces at once; raises SmtpLost."""
        if self.replies and self.lost is None:
            self.fail(f"{self.where} sent a reply to no command")
        if self.lost is not None:
            raise self.lost
        assert self.transport is not None
        self.transport.writelines(data)

    async def read(self, count: int, timeout: float) -> list[Reply]:
        """The next `count` replies; raises SmtpLost if they do not all come."""
        if len(self.replies) < count:
            if self.lost is not None:
                raise self.lost
            self.want = count
            self.waiter = self.loop.create_future()
            timer = self.loop.call_later(timeout, self._expire, timeout)
            try:
                await self.waiter
            finally:
                timer.cancel()
                self.waiter = None
            if len(self.replies) < count:
                raise self.lost or SmtpLost(f"{self.where} stopped answering")
        pop = self.replies.popleft
        return [pop() for _ in range(count)]

    def _expire(self, timeout: float) -> None:
        self.fail(f"{self.where} did not answer within {timeout:g} s")


@dataclass(slots=True)
class _Pending:
    """A message whose content went out and whose final reply is still to come."""

    instead: Delivery | None = None  # a refusal that decided it already


class SmtpClient:
    """One SMTP session. Build it with `await SmtpClient.connect(...)`."""

    def __init__(self, wire: _Wire, host: str, timeout: float) -> None:
        self.wire = wire
        self.host = host
        self.timeout = timeout
        self.extensions: dict[str, str] = {}
        self._reset = False  # a refused transaction is still open: RSET first
        self._busy = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        local_hostname: str,
        security: str = "none",
        tls_context: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT,
    ) -> SmtpClient:
        """Connects, reads the greeting, says EHLO, and does STARTTLS if asked.

        Raises OSError (no connection), ssl.SSLError, SmtpLost or SmtpRefused.
        """
        loop = asyncio.get_running_loop()
        wire = _Wire(loop, f"{host}:{port}")
        context = None
        if security in ("tls", "starttls"):
            context = tls_context or ssl.create_default_context()
        implicit = context if security == "tls" else None
        async with asyncio.timeout(timeout):
            await loop.create_connection(
                lambda: wire, host, port, ssl=implicit, server_hostname=host if implicit else None
            )
        client = cls(wire, host, timeout)
        try:
            await client._open(local_hostname, None if implicit else context)
        except BaseException:
            client.abort()
            raise
        return client

    async def _open(self, local_hostname: str, starttls: ssl.SSLContext | None) -> None:
        (greeting,) = await self.wire.read(1, self.timeout)
        if greeting.code != 220:
            raise SmtpRefused("greeting", greeting)
        await self.ehlo(local_hostname)
        if starttls is not None:
            await self._starttls(starttls)
            await self.ehlo(local_hostname)

    async def command(self, *line: bytes) -> Reply:
        """Writes one command (or the content, in pieces) and returns its reply."""
        self.wire.write(*line)
        (reply,) = await self.wire.read(1, self.timeout)
        return reply

    async def ehlo(self, name: str) -> None:
        """EHLO, or HELO when the server does not know EHLO (RFC 5321 §3.2)."""
        reply = await self.command(f"EHLO {name}\r\n".encode("ascii", "replace"))
        if 200 <= reply.code < 300:
            self.extensions = ehlo_keywords(reply)
            return
        if reply.code not in (500, 502, 504, 550):
            raise SmtpRefused("EHLO", reply)
        reply = await self.command(f"HELO {name}\r\n".encode("ascii", "replace"))
        if not 200 <= reply.code < 300:
            raise SmtpRefused("HELO", reply)
        self.extensions = {}

    async def _starttls(self, context: ssl.SSLContext) -> None:
        if "STARTTLS" not in self.extensions:
            raise SmtpLost(f"{self.wire.where} does not offer STARTTLS")
        reply = await self.command(b"STARTTLS\r\n")
        if reply.code != 220:
            raise SmtpRefused("STARTTLS", reply)
        if self.wire.replies or self.wire.parser.pending:
            # RFC 3207 §6: anything before the handshake may be an attacker's.
            raise SmtpLost(f"{self.wire.where} sent data after agreeing to STARTTLS")
        assert self.wire.transport is not None
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            self.wire.transport,
            self.wire,
            context,
            server_hostname=self.host,
            ssl_handshake_timeout=self.timeout,
        )
        if transport is None:
            raise SmtpLost(f"{self.wire.where} closed the connection during the TLS handshake")
        self.wire.transport = transport
        self.extensions = {}

    @property
    def auth_mechanisms(self) -> list[str]:
        return self.extensions.get("AUTH", "").upper().split()

    async def login(self, user: str, password: str) -> None:
        """One AUTH attempt (PLAIN, else LOGIN, else CRAM-MD5); raises SmtpRefused.

        Providers lock accounts after repeated failures, so there is no second try.
        """
        mechanisms = self.auth_mechanisms
        if "PLAIN" in mechanisms:
            reply = await self.command(auth_plain(user, password))
        elif "LOGIN" in mechanisms:
            reply = await self._login_steps(b"AUTH LOGIN\r\n", [user, password])
        elif "CRAM-MD5" in mechanisms:
            reply = await self.command(b"AUTH CRAM-MD5\r\n")
            if reply.code == 334:
                reply = await self.command(auth_cram_md5(reply.text, user, password))
        else:
            offered = " ".join(mechanisms) or "none"
            raise SmtpError(f"offers no login method postfach knows (AUTH {offered})")
        if reply.code != 235:
            raise SmtpRefused("AUTH", reply)

    async def _login_steps(self, start: bytes, answers: list[str]) -> Reply:
        reply = await self.command(start)
        for answer in answers:
            if reply.code != 334:
                return reply
            reply = await self.command(auth_login_step(answer))
        return reply

    async def send_many(self, envelopes: Sequence[Envelope]) -> tuple[list[Delivery], str]:
        """Sends each envelope; (how each ended, why the connection broke or "").

        When the connection breaks, the list ends with the messages that were
        under way (no reply, not permanent); those after them were not tried.
        """
        done: list[Delivery] = []
        self._busy = True  # stays so if this is cancelled midway: quit() then aborts
        started = [0]
        try:
            if "PIPELINING" in self.extensions:
                await self._pipelined(envelopes, done, started)
            else:
                for envelope in envelopes:
                    done.append(await self._lockstep(envelope, started))
                    self._check_closing(done[-1])
        except SmtpLost as exc:
            why = str(exc)
            done.extend(Delivery("", None, why) for _ in range(len(done), started[0]))
            return done, why
        self._busy = False
        return done, ""

    def _check_closing(self, delivery: Delivery) -> None:
        """421 means the server is closing the connection (RFC 5321 §3.8)."""
        if delivery.reply is not None and delivery.reply.code == 421:
            self.wire.fail(f"{self.wire.where} is closing the connection: {delivery.reply.words()}")
            assert self.wire.lost is not None
            raise self.wire.lost

    def _commands(self, envelope: Envelope) -> tuple[bytes, bytes] | Delivery:
        """MAIL and RCPT lines for `envelope`, or why it cannot be sent at all."""
        utf8 = not (envelope.sender.isascii() and envelope.recipient.isascii())
        options: list[str] = []
        if utf8:
            if "SMTPUTF8" not in self.extensions:
                note = "the relay takes no non-ASCII address (no SMTPUTF8)"
                return Delivery("", None, note, True)
            options.append("SMTPUTF8")
        if "8BITMIME" in self.extensions and not envelope.data.isascii():
            options.append("BODY=8BITMIME")
        limit = self.extensions.get("SIZE", "")
        if limit.isdigit() and 0 < int(limit) < len(envelope.data):
            note = f"the message ({len(envelope.data)} bytes) exceeds the relay's SIZE {limit}"
            return Delivery("", None, note, True)
        try:
            return (
                mail_command(envelope.sender, options, utf8),
                rcpt_command(envelope.recipient, utf8),
            )
        except AddressRefused as exc:
            return Delivery("", None, str(exc), True)

    async def _lockstep(self, envelope: Envelope, started: list[int]) -> Delivery:
        commands = self._commands(envelope)
        started[0] += 1
        if isinstance(commands, Delivery):
            return commands
        if self._reset:
            await self.command(b"RSET\r\n")
            self._reset = False
        mail, rcpt = commands
        for step, line in (("MAIL", mail), ("RCPT", rcpt), ("DATA", b"DATA\r\n")):
            reply = await self.command(line)
            if not _ok(step, reply):
                self._reset = step != "MAIL"
                return Delivery(step, reply)
        return Delivery(".", await self.command(*data_block(envelope.data, envelope.clean)))

    async def _pipelined(
        self, envelopes: Sequence[Envelope], done: list[Delivery], started: list[int]
    ) -> None:
        carry: list[bytes] = []  # the previous message's content, written with the next group
        pending: _Pending | None = None
        for envelope in envelopes:
            commands = self._commands(envelope)
            if isinstance(commands, Delivery):
                if pending is not None:
                    await self._finish(carry, pending, done)
                    carry, pending = [], None
                started[0] += 1
                done.append(commands)
                continue
            reset = self._reset
            started[0] += 1
            self.wire.write(*carry, b"RSET\r\n" if reset else b"", *commands, b"DATA\r\n")
            replies = await self._read_group(3 + reset, pending, done)
            if reset:
                replies.pop(0)
                self._reset = False
            carry, pending = self._after_envelope(envelope, replies, done)
        if pending is not None:
            await self._finish(carry, pending, done)

    async def _read_group(
        self, count: int, pending: _Pending | None, done: list[Delivery]
    ) -> list[Reply]:
        """The replies to a group; the one to the content in front is recorded at once.

        If the connection breaks midway, a final reply that did arrive still counts.
        """
        wire = self.wire
        try:
            replies = await wire.read(count + (pending is not None), self.timeout)
        except SmtpLost:
            if pending is not None and wire.replies:
                done.append(pending.instead or Delivery(".", wire.replies.popleft()))
            raise
        if pending is not None:
            done.append(pending.instead or Delivery(".", replies.pop(0)))
        return replies

    def _after_envelope(
        self, envelope: Envelope, replies: list[Reply], done: list[Delivery]
    ) -> tuple[list[bytes], _Pending | None]:
        """What follows the replies to MAIL, RCPT and DATA: content to send, or a refusal."""
        mail, rcpt, data = replies
        refusal = None
        if not _ok("MAIL", mail):
            refusal = Delivery("MAIL", mail)
        elif not _ok("RCPT", rcpt):
            refusal = Delivery("RCPT", rcpt)
        if data.code == 354:
            # A server that says 354 after refusing the recipient gets an empty message.
            if refusal is None:
                return data_block(envelope.data, envelope.clean), _Pending()
            return [b".\r\n"], _Pending(refusal)
        done.append(refusal or Delivery("DATA", data))
        self._reset = _ok("MAIL", mail)
        return [], None

    async def _finish(self, carry: list[bytes], pending: _Pending, done: list[Delivery]) -> None:
        self.wire.write(*carry)
        (final,) = await self.wire.read(1, self.timeout)
        done.append(pending.instead or Delivery(".", final))

    async def quit(self) -> None:
        """QUIT politely, then close; never raises."""
        if self._busy or self.wire.lost is not None:
            self.abort()
            return
        try:
            self.wire.write(b"QUIT\r\n")
            await self.wire.read(1, QUIT_TIMEOUT)
        except SmtpLost:
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        transport = self.wire.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


def _ok(step: str, reply: Reply) -> bool:
    return reply.code == 354 if step == "DATA" else 200 <= reply.code < 300
