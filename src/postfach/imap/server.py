"""The IMAP listeners (`imap`: 143 with STARTTLS, `imaps`: 993) and the per-connection I/O loop.

The loop reads one command at a time: a line, and for each literal it
announces (`parser.literal_suffix`) the `+` continuation (synchronizing
literals only), the octets and the next line. Size limits apply before any
literal is read. While waiting for a command it also watches the account's
change queue, so "log out everywhere" ends an idle connection at once, and a
session that set NOTIFY (RFC 5465) writes its notifications then, without
waiting for the client to read them (`hold`; the backlog is bounded instead). A
connection not logged in within `limits.preauth_timeout` gets `* BYE` and is
closed (net.lines.LoginDeadline); after login, `limits.idle_timeout` applies.
The bytes travel on the shared channel (net/lines.py); IMAP's own are the
literals and the idle wait interleaved with the change queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.imap import responses as r
from postfach.imap.errors import Bye, ImapError, TooBig
from postfach.imap.handlers import COMMANDS
from postfach.imap.parser import command_name, literal_suffix
from postfach.imap.session import Session
from postfach.imap.state import ImapLimits, State
from postfach.net.lines import LineChannel, LineTooLong, LoginDeadline
from postfach.net.listeners import Listener, WireReplies, serve_streams
from postfach.net.tls import HANDSHAKE_ERRORS, handshake_failed
from postfach.serving import listener_env
from postfach.store.api import StoreError
from postfach.store.events import ChangeCredentials

__all__ = ["ImapConnection", "start_listener"]

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_COMMAND_LITERAL = 1024 * 1024  # literals of commands other than APPEND
WRITE_CHUNK = 256 * 1024
MAX_BAD_COMMANDS = 20


class ImapConnection:
    """The socket side of a session: buffered writes, bounded reads, STARTTLS."""

    def __init__(
        self,
        ctx: ServerContext,
        spec: ListenerSpec,
        limits: ImapLimits,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client_ip: str,
    ) -> None:
        self.ctx = ctx
        self.limits = limits
        self.writer = writer
        self.ip = client_ip
        self.tls = spec.implicit_tls
        self.plaintext_port = not spec.implicit_tls
        # No idle timer on the channel: next_command waits on the change queue too.
        self.channel = LineChannel(
            reader, writer, max_line=MAX_LINE, push_at=WRITE_CHUNK, partial_at_eof=True
        )
        self.write = self.channel.write
        # Between commands a notification never waits for the client to read (RFC 5465
        # NOTIFY): the backlog is bounded by MAX_BACKLOG instead.
        self.hold = False

    async def flush(self) -> None:
        if self.hold:
            self.channel.push()
            return
        await self.channel.flush()

    def backlog(self) -> int:
        return self.channel.pending + self.writer.transport.get_write_buffer_size()

    async def start_tls(self) -> None:
        """RFC 9051 §6.2.1; input pipelined after STARTTLS is discarded (CVE-2011-0411)."""
        try:
            await self.channel.start_tls(self.ctx.ssl_context)
        except HANDSHAKE_ERRORS as exc:
            handshake_failed("imap", self.ip, exc)
            self.writer.transport.abort()
            raise ConnectionResetError("TLS handshake failed") from None
        self.tls = True

    async def read_line(self) -> bytes:
        """One line with its line end, up to MAX_LINE octets; a longer one is
        skipped and raises TooBig."""
        try:
            return await self.channel.read_line(keep_end=True)
        except LineTooLong as exc:
            await self.channel.skip_overlong()
            raise TooBig(command_name(exc.head)[0], r.LINE_TOO_LONG) from None

    async def read_command(self) -> bytes:
        """A complete command with its literals inline."""
        line = await self.read_line()
        tag, name = command_name(line)
        limit = self.limits.max_message_size if name == "APPEND" else MAX_COMMAND_LITERAL
        parts = [line]
        total = len(line)
        while (literal := literal_suffix(line)) is not None:
            size, sync = literal
            total += size
            if size > limit or total > 4 * max(limit, MAX_COMMAND_LITERAL):
                if not sync:
                    await self._discard(size)
                raise TooBig(tag, r.LITERAL_TOO_BIG, "TOOBIG")
            if sync:
                self.write(b"+ Ready for literal data\r\n")
                await self.flush()
            parts.append(await self.channel.read_exact(size))
            line = await self.read_line()
            parts.append(line)
        return b"".join(parts)

    async def _discard(self, size: int) -> None:
        """Reads and drops a too-big non-synchronizing literal and the rest of its command."""
        await self.channel.read_exact(size, keep=False)
        line = await self.read_line()
        while (literal := literal_suffix(line)) is not None:
            await self.channel.read_exact(literal[0], keep=False)
            line = await self.read_line()


async def next_command(session: Session, conn: ImapConnection) -> bytes | None:
    """Waits for a command; meanwhile ends the session on "log out everywhere". None: timeout."""
    reader = asyncio.ensure_future(conn.read_command())
    timeout = session.limits.idle_timeout
    try:
        while True:
            queue = session.queue
            if queue is None:
                return await asyncio.wait_for(reader, timeout)
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {reader, getter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if getter in done:
                change = getter.result()
                session.add_pending(change)
                if isinstance(change, ChangeCredentials):
                    session.check_logout([change])
                if session.notifying is not None:
                    await _notify(session, conn)
            else:
                getter.cancel()
            if reader in done:
                return reader.result()
            if not done:
                return None
    finally:
        if not reader.done():
            reader.cancel()
        elif not reader.cancelled():
            reader.exception()  # retrieved: a read that failed while a notification was written


async def _notify(session: Session, conn: ImapConnection) -> None:
    """RFC 5465: what NOTIFY asks for, written while no command is in progress."""
    conn.hold = True
    try:
        await session.notify_now()
    except Bye:
        raise
    except (StoreError, ImapError) as exc:  # the next command meets it again
        log.debug("imap session from %s: notification failed: %s", conn.ip, exc)
    finally:
        conn.hold = False
    conn.channel.push()


async def serve_connection(
    ctx: ServerContext,
    spec: ListenerSpec,
    limits: ImapLimits,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    deadline: LoginDeadline,
    client_ip: str,
) -> None:
    conn = ImapConnection(ctx, spec, limits, reader, writer, client_ip)
    session = Session(ctx, conn, limits, COMMANDS)
    try:
        session.greet()
        await conn.flush()
        await _loop(session, conn, deadline)
        await conn.flush()
    finally:
        session.close()
        with contextlib.suppress(Exception):
            writer.close()


async def _loop(session: Session, conn: ImapConnection, deadline: LoginDeadline) -> None:
    bad = 0
    while session.state is not State.LOGOUT:
        try:
            raw = await next_command(session, conn)
        except TooBig as exc:
            code = f"[{exc.code}] " if exc.code else ""
            conn.write(r.tagged(exc.tag or "*", "BAD" if not exc.code else "NO", code + exc.text))
            await conn.flush()
            continue
        except Bye as exc:
            conn.write(r.untagged(exc.line("BYE")))
            return
        if raw is None:
            conn.write(r.untagged("BYE " + r.AUTOLOGOUT))
            return
        await session.execute(raw)
        if session.state is not State.NOT_AUTH:
            deadline.passed()
        bad = bad + 1 if session.last_bad else 0
        if bad >= MAX_BAD_COMMANDS:
            conn.write(r.untagged("BYE Too many invalid commands"))
            return
        await conn.flush()


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts `imap` or `imaps` as `postfach.app.App` expects."""
    limits = ImapLimits.from_config(ctx.config.limits)  # read once per listener
    # a partial, not a wrapper coroutine: every await resumes each frame of the chain
    return await serve_streams(
        listener_env(ctx, spec),
        functools.partial(serve_connection, ctx, spec, limits),
        WireReplies(
            too_many_from_ip=b"* BYE Too many connections from your address\r\n",
            too_busy=b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
            timeout=r.untagged("BYE " + r.AUTOLOGOUT),
        ),
        limits.preauth_timeout,
        limit=MAX_LINE,
    )
