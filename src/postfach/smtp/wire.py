"""Buffered I/O for one SMTP connection: lines, DATA, BDAT chunks, replies, STARTTLS.

Replies are collected and written when the session next waits for input, so a
pipelined batch (RFC 2920) is answered in one segment. All reads drain the
stream's whole buffer into ours, so at STARTTLS nothing sent in plain text can
survive into the TLS session (RFC 3207 §6, the STARTTLS injection attacks).

The idle timeout (RFC 5321 §4.5.3.2) is one lazy timer per connection, not one
per read: each wait only moves the deadline, and the timer, when it fires early,
sets itself again for the deadline. A client idle past it gets `421` and the
connection is closed, which ends the pending read.
"""

from __future__ import annotations

import asyncio
import ssl

from postfach.smtp import replies
from postfach.smtp.data import DataCollector
from postfach.smtp.errors import SmtpError

__all__ = ["Wire"]

_READ_SIZE = 1 << 20
MAX_LINE = 12288  # RFC 4954 §4: AUTH lines may be this long
_CLOSE_GRACE = 5.0  # seconds a timed-out client gets to take the 421 before the abort


class Wire:
    __slots__ = (
        "_buf",
        "_deadline",
        "_out",
        "_timer",
        "_waiting",
        "reader",
        "timed_out",
        "timeout",
        "writer",
    )

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.timed_out = False
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False

    def send(self, reply: replies.Reply) -> None:
        self._out.append(reply.wire)

    def send_raw(self, data: bytes) -> None:
        self._out.append(data)

    async def flush(self) -> None:
        if self._out:
            self.writer.write(b"".join(self._out))
            self._out.clear()
            await self.writer.drain()

    async def _fill(self) -> None:
        """Flushes pending replies, then waits for more input (EOF ends the session)."""
        await self.flush()
        self._arm()
        self._waiting = True
        try:
            chunk = await self.reader.read(_READ_SIZE)
        finally:
            self._waiting = False
        if self.timed_out:
            raise ConnectionResetError("idle timeout")  # the 421 is on its way
        if not chunk:
            raise ConnectionResetError("client closed the connection")
        self._buf += chunk

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self._waiting:
            return  # busy with a command; the next wait arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        self.timed_out = True
        self.writer.write(replies.TIMEOUT.wire)
        self.writer.close()
        self._timer = loop.call_later(_CLOSE_GRACE, self.writer.transport.abort)

    def close(self) -> None:
        """Stops the idle timer; the session calls this when it ends."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def readline(self) -> bytes:
        """One line without CR LF; an overlong line is skipped and reported as 500."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                if len(line) > MAX_LINE:
                    raise SmtpError(replies.LINE_TOO_LONG)
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) > MAX_LINE:
                await self._skip_line()
                raise SmtpError(replies.LINE_TOO_LONG)
            await self._fill()

    async def _skip_line(self) -> None:
        while (end := self._buf.find(b"\n")) < 0:
            self._buf.clear()
            await self._fill()
        del self._buf[: end + 1]

    async def read_data(self, max_size: int) -> DataCollector:
        """Reads DATA content up to its terminator; check `too_big` on the result."""
        collector = DataCollector(max_size)
        pending, self._buf = bytes(self._buf), bytearray()
        while (rest := collector.feed(pending)) is None:
            await self._fill()
            pending, self._buf = bytes(self._buf), bytearray()
        self._buf += rest
        return collector

    async def read_exact(self, size: int, keep: bool) -> bytes:
        """A BDAT chunk (RFC 3030 §2); when not `keep`, its octets are read and dropped."""
        parts: list[bytes] = []
        remaining = size
        while remaining:
            if not self._buf:
                await self._fill()
            take = bytes(self._buf[:remaining])
            del self._buf[: len(take)]
            remaining -= len(take)
            if keep:
                parts.append(take)
        return b"".join(parts)

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrades the connection; plaintext that followed STARTTLS is discarded."""
        await self.flush()
        self._buf.clear()
        async with asyncio.timeout(self.timeout):
            await self.writer.start_tls(context)

    @property
    def buffered(self) -> bool:
        return bool(self._buf)

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None
