"""SMTP's framing on the shared line channel (net/lines.py): replies, DATA, BDAT, STARTTLS.

Replies are collected and written when the session next waits for input, so a
pipelined batch (RFC 2920) is answered in one segment; at STARTTLS nothing sent
in plain text survives into the TLS session (RFC 3207 §6). The idle timeout
(RFC 5321 §4.5.3.2) is the channel's: a client idle past it gets `421` and the
connection is closed. What is SMTP's own: an overlong line is answered with
`500` after its end, and DATA content is cut at its terminator by DataCollector.
"""

from __future__ import annotations

import asyncio
import ssl

from postfach.net.lines import READ_SIZE, LineChannel, LineTooLong
from postfach.smtp import replies
from postfach.smtp.data import DataCollector
from postfach.smtp.errors import SmtpError

__all__ = ["Wire"]

MAX_LINE = 12288  # RFC 4954 §4: AUTH lines may be this long


class Wire(LineChannel):
    __slots__ = ()

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        super().__init__(
            reader,
            writer,
            max_line=MAX_LINE,
            idle_timeout=timeout,
            timeout_reply=replies.TIMEOUT.wire,
        )

    def send(self, reply: replies.Reply) -> None:
        self.write(reply.wire)

    def send_raw(self, data: bytes) -> None:
        self.write(data)

    async def talks_within(self, seconds: float) -> bool:
        """Sends what was written, then whether the client sends anything within
        `seconds`; what it sent stays for the next read."""
        await self.flush()
        try:
            chunk = await asyncio.wait_for(self.reader.read(READ_SIZE), seconds)
        except TimeoutError:
            return False
        if not chunk:
            raise ConnectionResetError("client closed the connection")
        self._buf += chunk
        return True

    async def readline(self) -> bytes:
        """One line without CR LF; an overlong line is skipped and reported as 500."""
        try:
            return await self.read_line()
        except LineTooLong:
            await self.skip_overlong()
            raise SmtpError(replies.LINE_TOO_LONG) from None

    async def read_data(self, max_size: int) -> DataCollector:
        """Reads DATA content up to its terminator; check `too_big` on the result."""
        collector = DataCollector(max_size)
        await self.read_until(collector.feed)
        return collector

    async def start_tls(self, context: ssl.SSLContext, timeout: float | None = None) -> None:
        """Upgrades the connection within the idle timeout; plaintext after STARTTLS is dropped."""
        await super().start_tls(context, self.timeout if timeout is None else timeout)
