"""POP3 over the network: the `pop3` (110, STLS) and `pop3s` (995) listeners.

This module owns the I/O: it splits the byte stream into lines, hands each to
the `Session`, and writes what the session produced. Commands may be pipelined
(RFC 2449 §6.6): every complete line in the buffer is applied in order, and the
replies go out together, in one write, when the buffer holds no further
complete line (or when enough output has piled up).

Limits: a line longer than `MAX_LINE` is answered with -ERR and skipped up to
its end; the session survives. RFC 1939 §3's autologout timer closes a
connection idle for `IDLE_TIMEOUT`, without entering the UPDATE state; before
login, `limits.preauth_timeout` (net.LoginDeadline) ends it much sooner.
STLS (RFC 2595 §4): any bytes the client sent after STLS and before the TLS
handshake are discarded, so nothing sent in the clear runs as a command inside TLS.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net import Listener, LoginDeadline, WireReplies, peer_ip, serve_streams
from postfach.pop3 import replies
from postfach.pop3.session import Session, SessionEnv, State
from postfach.tls import HANDSHAKE_ERRORS, handshake_failed

__all__ = ["IDLE_TIMEOUT", "MAX_LINE", "start_listener"]

log = logging.getLogger(__name__)

MAX_LINE = 8192  # octets without the line end; RFC 2449 asks only 255 of clients
IDLE_TIMEOUT = 600.0  # RFC 1939 §3: at least 10 minutes
TLS_HANDSHAKE_TIMEOUT = 30.0
READ_SIZE = 64 * 1024
FLUSH_AT = 256 * 1024  # pipelined output is written once this much is pending
WRITE_HIGH_WATER = 1024 * 1024

_session_ids = itertools.count(1)


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts the `pop3` or `pop3s` listener (`postfach.app.App` calls this)."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: LoginDeadline
    ) -> None:
        await Connection(ctx, spec, reader, writer, deadline).run()

    wire_replies = WireReplies(
        too_many_from_ip=replies.TOO_MANY_CONNECTIONS,
        too_busy=replies.SERVER_BUSY,
        timeout=replies.TIMEOUT,
    )
    return await serve_streams(ctx, spec, handle, wire_replies, ctx.config.limits.preauth_timeout)


class Connection:
    """One client connection: line framing, output batching, STLS, idle timer."""

    def __init__(
        self,
        ctx: ServerContext,
        spec: ListenerSpec,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: LoginDeadline,
    ) -> None:
        self.ctx = ctx
        self.reader = reader
        self.writer = writer
        self.deadline = deadline
        self.buffer = bytearray()
        self.discarding = False  # inside an overlong line, skipping to its end
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        env = SessionEnv(ctx, spec.name, peer_ip(writer), spec.implicit_tls, self.close)
        self.session = Session(env, f"{next(_session_ids):x}")

    def close(self) -> None:
        """Ends the connection at once, whatever the session is doing."""
        self.writer.transport.close()

    async def run(self) -> None:
        self.writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._arm_timer(IDLE_TIMEOUT)
        try:
            self.writer.write(self.session.greeting())
            await self._read_loop()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            await self.session.aclose()

    async def _read_loop(self) -> None:
        while not self.session.closing:
            chunk = await self.reader.read(READ_SIZE)
            if not chunk:
                return
            self.last_activity = self.loop.time()
            self.buffer += chunk
            await self._apply_lines()

    async def _apply_lines(self) -> None:
        session = self.session
        while not session.closing:
            end = self.buffer.find(b"\n")
            if end < 0:
                self._check_overlong()
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            if self.discarding:
                self.discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > MAX_LINE:
                session.fail(replies.LINE_TOO_LONG)
                continue
            await session.handle(line)
            if session.state is State.TRANSACTION:
                self.deadline.passed()
            if session.want_tls:
                await self._flush()
                await self._start_tls()
            elif sum(map(len, session.out)) >= FLUSH_AT:
                await self._flush()
        await self._flush()

    def _check_overlong(self) -> None:
        """A partial line past MAX_LINE: answer now, drop it, skip the rest of it."""
        if len(self.buffer) > MAX_LINE:
            self.buffer.clear()
            if not self.discarding:
                self.discarding = True
                self.session.fail(replies.LINE_TOO_LONG)

    async def _flush(self) -> None:
        out = self.session.out
        if not out:
            return
        self.writer.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()
        self.last_activity = self.loop.time()
        await self.writer.drain()

    async def _start_tls(self) -> None:
        """RFC 2595 §4: the handshake follows +OK; pipelined cleartext is dropped."""
        self.buffer.clear()
        self.discarding = False
        try:
            await asyncio.wait_for(
                self.writer.start_tls(self.ctx.ssl_context), TLS_HANDSHAKE_TIMEOUT
            )
        except HANDSHAKE_ERRORS as exc:
            handshake_failed("pop3", self.session.env.ip, exc)
            self.session.closing = True
            self.writer.transport.abort()
            return
        self.session.tls_started()

    def _arm_timer(self, delay: float) -> None:
        self._timer = self.loop.call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        """RFC 1939 §3 autologout: no UPDATE state, so marked messages stay."""
        idle = self.loop.time() - self.last_activity
        if idle < IDLE_TIMEOUT:
            self._arm_timer(IDLE_TIMEOUT - idle)
            return
        log.info("pop3 %s: idle for %.0f s; closing", self.session.id, idle)
        self.session.closing = True
        self.writer.write(replies.TIMEOUT)
        self.writer.transport.close()
