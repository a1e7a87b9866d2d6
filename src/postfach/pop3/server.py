"""POP3 over the network: the `pop3` (110, STLS) and `pop3s` (995) listeners.

This module feeds the lines of the shared channel (net/lines.py) to the
`Session` and hands the channel what the session produced. Commands may be pipelined
(RFC 2449 §6.6): every complete line in the buffer is applied in order, and the
replies go out together, in one write, when the buffer holds no further
complete line (or when enough output has piled up).

Limits: a line longer than `MAX_LINE` is answered with -ERR and skipped up to
its end; the session survives. RFC 1939 §3's autologout timer closes a
connection idle for `IDLE_TIMEOUT`, without entering the UPDATE state; before
login, `limits.preauth_timeout` (net.lines.LoginDeadline) ends it much sooner.
STLS (RFC 2595 §4): any bytes the client sent after STLS and before the TLS
handshake are discarded, so nothing sent in the clear runs as a command inside TLS.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net.lines import LineChannel, LineTooLong, LoginDeadline
from postfach.net.listeners import Listener, WireReplies, serve_streams
from postfach.net.logcontext import SESSION_ID
from postfach.net.tls import HANDSHAKE_ERRORS, handshake_failed
from postfach.pop3 import replies
from postfach.pop3.session import Session, SessionEnv, State
from postfach.serving import listener_env

__all__ = ["IDLE_TIMEOUT", "MAX_LINE", "start_listener"]

log = logging.getLogger(__name__)

MAX_LINE = 8192  # octets without the line end; RFC 2449 asks only 255 of clients
IDLE_TIMEOUT = 600.0  # RFC 1939 §3: at least 10 minutes
TLS_HANDSHAKE_TIMEOUT = 30.0
FLUSH_AT = 256 * 1024  # pipelined output is written once this much is pending
WRITE_HIGH_WATER = 1024 * 1024

_session_ids = itertools.count(1)


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts the `pop3` or `pop3s` listener (`postfach.app.App` calls this)."""

    async def handle(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: LoginDeadline,
        client_ip: str,
    ) -> None:
        await Connection(ctx, spec, reader, writer, deadline, client_ip).run()

    wire_replies = WireReplies(
        too_many_from_ip=replies.TOO_MANY_CONNECTIONS,
        too_busy=replies.SERVER_BUSY,
        timeout=replies.TIMEOUT,
    )
    preauth = ctx.config.limits.preauth_timeout
    return await serve_streams(listener_env(ctx, spec), handle, wire_replies, preauth)


class Connection:
    """One client connection: POP3 lines on the shared channel, output batching, STLS."""

    def __init__(
        self,
        ctx: ServerContext,
        spec: ListenerSpec,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: LoginDeadline,
        client_ip: str,
    ) -> None:
        self.ctx = ctx
        self.writer = writer
        self.deadline = deadline
        self.channel = LineChannel(
            reader,
            writer,
            max_line=MAX_LINE,
            idle_timeout=IDLE_TIMEOUT,
            timeout_reply=replies.TIMEOUT,
            on_timeout=self._timed_out,
        )
        env = SessionEnv(ctx, spec.name, client_ip, spec.implicit_tls, self.close)
        # the wire layer's session id: the one on this connection's log lines
        self.session = Session(env, SESSION_ID.get() or f"{next(_session_ids):x}")

    def close(self) -> None:
        """Ends the connection at once, whatever the session is doing."""
        self.writer.transport.close()

    async def run(self) -> None:
        self.writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        try:
            self.channel.write(self.session.greeting())
            if await self._read_loop():
                await self._flush()
        finally:
            self.channel.close()
            await self.session.aclose()

    async def _read_loop(self) -> bool:
        """Every line is applied in order; the channel sends the replies collected
        meanwhile when it next waits for input, so a pipelined batch is one write.
        False: the client left, or the idle timer closed the connection."""
        session = self.session
        channel = self.channel
        out = session.out
        while not session.closing:
            try:
                line = await channel.read_line()
            except LineTooLong:
                session.fail(replies.LINE_TOO_LONG)
            except ConnectionResetError:
                return False
            else:
                await session.handle(line)
                if session.state is State.TRANSACTION:
                    self.deadline.passed()
            if out:
                channel.write_many(out)
                out.clear()
            if session.want_tls:
                await self._flush()
                await self._start_tls()
            elif channel.pending >= FLUSH_AT:
                await self._flush()
        return True

    async def _flush(self) -> None:
        out = self.session.out
        if out:
            self.channel.write_many(out)
            out.clear()
        await self.channel.flush()

    async def _start_tls(self) -> None:
        """RFC 2595 §4: the handshake follows +OK; pipelined cleartext is dropped."""
        try:
            await self.channel.start_tls(self.ctx.ssl_context, TLS_HANDSHAKE_TIMEOUT)
        except HANDSHAKE_ERRORS as exc:
            handshake_failed("pop3", self.session.env.ip, exc)
            self.session.closing = True
            self.writer.transport.abort()
            return
        self.session.tls_started()

    def _timed_out(self) -> None:
        """RFC 1939 §3 autologout: no UPDATE state, so marked messages stay."""
        log.info("pop3 %s: idle for %.0f s; closing", self.session.id, IDLE_TIMEOUT)
        self.session.closing = True
