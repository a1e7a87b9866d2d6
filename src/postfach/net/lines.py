"""One connection's bytes: a bounded line reader, a buffered writer, STARTTLS, the idle timer.

Every line protocol frames on `LineChannel` (IMAP literals, SMTP DATA and BDAT,
POP3 lines): it keeps its own input buffer, filled by large reads, so a
pipelined batch is cut into lines without a system call each, and the replies
collected meanwhile go out in one write when the channel next waits for input
(RFC 2920, RFC 2449 §6.6). At STARTTLS both its buffer and the stream's are
emptied, so nothing sent in plain text survives into the TLS session (RFC 3207
§6, RFC 2595 §4: the STARTTLS injection attacks).

A line longer than `max_line` (octets without the line end) raises
`LineTooLong` as soon as it is known: the protocol answers at once, or first
calls `skip_overlong()` to answer after the line's end; either way the rest of
the line is skipped, and the connection survives.

The idle timeout is one lazy timer per connection, not one per read: each wait
on the peer (a read, or a drain of replies it does not take) only moves the
deadline, and the timer, when it fires early, sets itself again for the
deadline. A peer idle past it gets the protocol's timeout reply and the
connection closes, which ends the pending wait with ConnectionResetError.

`LoginDeadline` is the other clock: it ends a connection that has not logged in
soon after it opened, whatever it does meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable

__all__ = [
    "CLOSE_GRACE",
    "LineChannel",
    "LineTooLong",
    "LoginDeadline",
    "peer_ip",
]

log = logging.getLogger("postfach.net")  # the name its lines had before the split

READ_SIZE = 1 << 20  # one read takes what the stream holds: a whole pipelined batch
CLOSE_GRACE = 5.0  # seconds a timed-out client gets to read its reply before the abort
HEAD_SIZE = 200  # octets of an overlong line kept for its error (IMAP's tag)
_NEVER = 1 << 62


class LineTooLong(Exception):
    """A line past the channel's `max_line`; `head` is its beginning."""

    def __init__(self, head: bytes) -> None:
        super().__init__("line too long")
        self.head = head


def peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


class LineChannel:
    """Bounded reads and batched writes over one connection's asyncio streams.

    `idle_timeout` 0 means no idle timer (IMAP keeps its own, interleaved with
    its change queue); `push_at` hands collected output to the transport once
    that much is pending, without waiting for it to drain; `partial_at_eof`
    returns an unterminated last line instead of raising at the end of input.
    """

    __slots__ = (
        "_buf",
        "_deadline",
        "_discarding",
        "_loop",
        "_on_timeout",
        "_out",
        "_out_size",
        "_partial_at_eof",
        "_push_at",
        "_timer",
        "_waiting",
        "max_line",
        "reader",
        "timed_out",
        "timeout",
        "timeout_reply",
        "writer",
    )

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_line: int,
        idle_timeout: float = 0.0,
        timeout_reply: bytes = b"",
        on_timeout: Callable[[], None] | None = None,
        push_at: int = 0,
        partial_at_eof: bool = False,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.max_line = max_line
        self.timeout = idle_timeout
        self.timeout_reply = timeout_reply
        self.timed_out = False
        self._on_timeout = on_timeout
        self._push_at = push_at or _NEVER
        self._partial_at_eof = partial_at_eof
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._out_size = 0
        self._discarding = False  # inside an overlong line, skipping to its end
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False

    # -- output ------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Collects `data`; it goes out at the next flush (or at `push_at`)."""
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= self._push_at:
            self._push()

    def write_many(self, chunks: list[bytes]) -> None:
        self._out.extend(chunks)
        self._out_size += sum(map(len, chunks))
        if self._out_size >= self._push_at:
            self._push()

    @property
    def pending(self) -> int:
        """Octets collected and not yet handed to the transport."""
        return self._out_size

    def push(self) -> None:
        """Hands what was collected to the transport without waiting for the peer."""
        self._push()

    def _push(self) -> None:
        out = self._out
        if out:
            self.writer.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
            self._out_size = 0

    async def flush(self) -> None:
        """Sends what was collected and waits while the peer is slow to take it."""
        self._push()
        self._arm()
        self._waiting = True
        try:
            await self.writer.drain()
        finally:
            self._waiting = False
        if self.timed_out:
            raise ConnectionResetError("idle timeout")

    # -- input -------------------------------------------------------------------------
    async def _fill(self) -> None:
        """Flushes pending output, then waits for more input (EOF ends the session)."""
        await self.flush()
        self._arm()
        self._waiting = True
        try:
            chunk = await self.reader.read(READ_SIZE)
        finally:
            self._waiting = False
        if self.timed_out:
            raise ConnectionResetError("idle timeout")  # the timeout reply is on its way
        if not chunk:
            raise EOFError
        self._buf += chunk

    async def read_line(self, keep_end: bool = False) -> bytes:
        """One line, without its CR LF (or LF) unless `keep_end`.

        Raises LineTooLong for a line past `max_line`; ConnectionResetError at
        the end of input (or the line so far, with `partial_at_eof`)."""
        if self._discarding:
            await self.skip_overlong()
        buf = self._buf
        while True:
            end = buf.find(b"\n")
            if end >= 0:
                return self._take_line(end, keep_end)
            if len(buf) > self.max_line + 1:  # + 1: a CR may be waiting for its LF
                head = bytes(buf[:HEAD_SIZE])
                buf.clear()
                self._discarding = True
                raise LineTooLong(head)
            try:
                await self._fill()
            except EOFError:
                if self._partial_at_eof and buf:
                    line = bytes(buf)
                    buf.clear()
                    return line
                raise ConnectionResetError("client closed the connection") from None

    def _take_line(self, end: int, keep_end: bool) -> bytes:
        buf = self._buf
        stop = end - 1 if end and buf[end - 1] == 13 else end  # 13: CR
        if stop > self.max_line:
            head = bytes(buf[:HEAD_SIZE])
            del buf[: end + 1]
            raise LineTooLong(head)
        line = bytes(buf[: end + 1] if keep_end else buf[:stop])
        del buf[: end + 1]
        return line

    async def skip_overlong(self) -> None:
        """Reads to the end of the overlong line LineTooLong reported."""
        buf = self._buf
        while self._discarding:
            end = buf.find(b"\n")
            if end >= 0:
                del buf[: end + 1]
                self._discarding = False
                return
            buf.clear()
            await self._fill_or_reset()

    async def read_exact(self, size: int, keep: bool = True) -> bytes:
        """`size` octets (a literal, a BDAT chunk); when not `keep`, read and dropped."""
        buf = self._buf
        if len(buf) >= size:
            data = bytes(buf[:size]) if keep else b""
            del buf[:size]
            return data
        parts: list[bytes] = []
        remaining = size
        while remaining:
            if not buf:
                await self._fill_or_reset()
            take = bytes(buf[:remaining])
            del buf[: len(take)]
            remaining -= len(take)
            if keep:
                parts.append(take)
        return b"".join(parts)

    async def read_until(self, feed: Callable[[bytes], bytes | None]) -> None:
        """Hands input to `feed` until it returns what follows its end (SMTP DATA)."""
        buf = self._buf
        pending = bytes(buf)
        buf.clear()
        while (rest := feed(pending)) is None:
            await self._fill_or_reset()
            pending = bytes(buf)
            buf.clear()
        buf += rest

    async def _fill_or_reset(self) -> None:
        try:
            await self._fill()
        except EOFError:
            raise ConnectionResetError("client closed the connection") from None

    @property
    def buffered(self) -> bool:
        """Input has arrived that no read has taken yet."""
        return bool(self._buf)

    # -- TLS -----------------------------------------------------------------------
    async def start_tls(self, context: ssl.SSLContext, timeout: float | None = None) -> None:
        """Upgrades the connection in place; plaintext that followed the command is dropped.

        Raises what a failed handshake raises (net.tls.HANDSHAKE_ERRORS)."""
        await self.flush()
        self._buf.clear()
        self._discarding = False
        stream_buffer = getattr(self.reader, "_buffer", None)
        if isinstance(stream_buffer, bytearray):
            stream_buffer.clear()
        if timeout:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(context)
        else:
            await self.writer.start_tls(context)

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    # -- the idle timer --------------------------------------------------------------
    def _arm(self) -> None:
        if self.timeout > 0:
            self._deadline = self._loop.time() + self.timeout
            if self._timer is None:
                self._timer = self._loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self._waiting:
            return  # the session is busy; its next wait arms the timer again
        loop = self._loop
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        self.timed_out = True
        if self._on_timeout is not None:
            self._on_timeout()
        self.writer.write(self.timeout_reply)
        self.writer.close()
        self._timer = loop.call_later(CLOSE_GRACE, self.writer.transport.abort)

    def close(self) -> None:
        """Stops the idle timer; the session calls this when it ends."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class LoginDeadline:
    """Ends a connection that has not logged in `seconds` after it opened (0: never):
    the protocol's timeout reply, then close. The session calls `passed()` at login."""

    __slots__ = ("_handle", "_name", "_reply", "_writer")

    def __init__(
        self, writer: asyncio.StreamWriter, seconds: float, reply: bytes, name: str
    ) -> None:
        self._writer = writer
        self._reply = reply
        self._name = name
        self._handle: asyncio.TimerHandle | None = None
        if seconds > 0:
            self._handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def passed(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        log.info("%s: %s did not log in in time; closing", self._name, peer_ip(self._writer))
        with contextlib.suppress(Exception):
            self._writer.write(self._reply)
            self._writer.close()
        # The close waits for the reply to drain; a client that reads nothing is cut.
        transport = self._writer.transport
        asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)
