"""ManageSieve over the network: the `managesieve` listener (4190, STARTTLS).

This module reads whole commands off the shared channel (net/lines.py): a
line, and for every literal a line announces at its end (`{n+}`), its octets
and the line that goes on after it (parser.literal_tail). The `Session`
applies each; its replies go out when the channel next waits for input.

Limits: a line longer than `MAX_LINE` is answered with NO and skipped to its
end. A literal may hold a script up to `limits.sieve_max_script_size` plus
`LITERAL_SLACK`; a larger one is read and dropped (the client sends it
without waiting), and the command is answered NO (QUOTA/MAXSIZE). A
connection idle for `IDLE_TIMEOUT` gets BYE; before login,
`limits.preauth_timeout` (net.lines.LoginDeadline) ends it much sooner.
STARTTLS (RFC 5804 §2.2): bytes the client sent after STARTTLS and before
the handshake are dropped, so nothing sent in the clear runs inside TLS.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.managesieve import responses
from postfach.managesieve.parser import literal_tail
from postfach.managesieve.session import Session, SessionEnv, State
from postfach.net.lines import LineChannel, LineTooLong, LoginDeadline
from postfach.net.listeners import Listener, WireReplies, serve_streams
from postfach.net.logcontext import SESSION_ID
from postfach.net.tls import HANDSHAKE_ERRORS, handshake_failed
from postfach.serving import listener_env

__all__ = ["IDLE_TIMEOUT", "MAX_LINE", "start_listener"]

log = logging.getLogger("postfach.managesieve")

MAX_LINE = 8192  # octets of one line without its end; scripts come in literals
LITERAL_SLACK = 4096  # octets a command's literals may hold beyond one script
IDLE_TIMEOUT = 600.0
TLS_HANDSHAKE_TIMEOUT = 30.0
MAX_LITERALS = 4  # literals in one command; none takes more than two

_session_ids = itertools.count(1)


class _Oversized(Exception):
    """The command's literals were larger than a script may be; they were skipped."""


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts the `managesieve` listener (`postfach.app.App` calls this)."""

    async def handle(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: LoginDeadline,
        client_ip: str,
    ) -> None:
        await Connection(ctx, spec, reader, writer, deadline, client_ip).run()

    wire_replies = WireReplies(
        too_many_from_ip=responses.TOO_MANY_CONNECTIONS,
        too_busy=responses.SERVER_BUSY,
        timeout=responses.TIMEOUT,
    )
    preauth = ctx.config.limits.preauth_timeout
    return await serve_streams(listener_env(ctx, spec), handle, wire_replies, preauth)


class Connection:
    """One client connection: ManageSieve commands on the shared channel, STARTTLS."""

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
            timeout_reply=responses.TIMEOUT,
            on_timeout=self._timed_out,
        )
        # client_ip: the proxied client's when a PROXY header named it (net/proxied.py)
        env = SessionEnv(ctx, spec.name, client_ip, spec.implicit_tls, self.close)
        # the wire layer's session id: the one on this connection's log lines
        self.session = Session(env, SESSION_ID.get() or f"{next(_session_ids):x}")
        self.max_literals = ctx.config.limits.sieve_max_script_size + LITERAL_SLACK

    def close(self) -> None:
        """Ends the connection at once, whatever the session is doing."""
        self.writer.transport.close()

    async def run(self) -> None:
        try:
            self.channel.write(self.session.greeting())
            if await self._read_loop():
                await self._flush()
        finally:
            self.channel.close()
            await self.session.aclose()

    async def _read_loop(self) -> bool:
        """False: the client left, or the idle timer closed the connection."""
        session = self.session
        while not session.closing:
            try:
                command = await self._read_command()
            except LineTooLong:
                session.fail(responses.LINE_TOO_LONG)
            except _Oversized:
                session.oversized()
            except ConnectionResetError:
                return False
            else:
                await session.handle(command)
                if session.state is State.AUTHENTICATED:
                    self.deadline.passed()
            self._collect()
            if session.want_tls:
                await self._start_tls()
                self._collect()  # the capabilities again (§2.2)
        return True

    def _collect(self) -> None:
        """Hands the session's replies to the channel, which sends them when it next reads."""
        if self.session.out:
            self.channel.write_many(self.session.out)
            self.session.out.clear()

    async def _read_command(self) -> bytes:
        """A line and the literals it announces, each literal's octets in place."""
        channel = self.channel
        line = await channel.read_line()
        parts = [line]
        taken = literals = 0
        oversized = False
        while (size := literal_tail(line)) is not None:
            literals += 1
            taken += size
            if oversized or taken > self.max_literals or literals > MAX_LITERALS:
                oversized = True
                await channel.read_exact(size, keep=False)
            else:
                parts += [b"\r\n", await channel.read_exact(size)]
            line = await channel.read_line()
            parts.append(line)
        if oversized:
            raise _Oversized
        return b"".join(parts)

    async def _flush(self) -> None:
        self._collect()
        await self.channel.flush()

    async def _start_tls(self) -> None:
        """§2.2: the handshake follows OK; pipelined cleartext is dropped."""
        try:
            await self.channel.start_tls(self.ctx.ssl_context, TLS_HANDSHAKE_TIMEOUT)
        except HANDSHAKE_ERRORS as exc:
            handshake_failed("managesieve", self.session.env.ip, exc)
            self.session.closing = True
            self.writer.transport.abort()
            return
        self.session.tls_started()

    def _timed_out(self) -> None:
        log.info("managesieve %s: idle for %.0f s; closing", self.session.id, IDLE_TIMEOUT)
        self.session.closing = True
