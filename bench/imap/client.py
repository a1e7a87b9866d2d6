"""A minimal asyncio IMAP client for the benches: tagged commands, literals skipped fast."""

from __future__ import annotations

import asyncio
import re

__all__ = ["ImapClient", "ImapError"]

_LITERAL = re.compile(rb"~?\{(\d+)\}\r\n$")


class ImapError(Exception):
    pass


class ImapClient:
    """One connection. `command` returns the untagged data as raw bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.tag = 0
        self.last = b""  # the last tagged reply

    @classmethod
    async def connect(
        cls, host: str, port: int, local_addr: tuple[str, int] | None = None
    ) -> ImapClient:
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=local_addr, limit=1 << 22
        )
        client = cls(reader, writer)
        greeting = await client._line()
        if not greeting.startswith(b"* OK"):
            raise ImapError(greeting.decode(errors="replace"))
        return client

    async def _more(self) -> None:
        data = await self.reader.read(1 << 18)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    async def _line(self) -> bytes:
        """One response line with any literals it announces, CRLF included."""
        start = 0
        while True:
            end = self.buf.find(b"\r\n", start)
            if end < 0:
                start = max(len(self.buf) - 1, 0)
                await self._more()
                continue
            m = _LITERAL.search(self.buf, 0, end + 2)
            if m is None:
                line = bytes(self.buf[: end + 2])
                del self.buf[: end + 2]
                return line
            need = end + 2 + int(m.group(1))
            while len(self.buf) < need:
                await self._more()
            start = need

    async def command(self, text: bytes, literal: bytes | None = None) -> bytes:
        """Sends a command (with one LITERAL+ literal appended) and reads to its tagged reply."""
        self.tag += 1
        tag = b"x%d" % self.tag
        if literal is None:
            self.writer.write(tag + b" " + text + b"\r\n")
        else:
            self.writer.write(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        out: list[bytes] = []
        prefix = tag + b" "
        while True:
            line = await self._line()
            if line.startswith(prefix):
                self.last = line
                if line[len(prefix) : len(prefix) + 2] != b"OK":
                    raise ImapError(line.decode(errors="replace").strip())
                return b"".join(out)
            out.append(line)

    async def command_bulk(self, text: bytes) -> bytes:
        """Like `command` for replies without literals (FLAGS, SEARCH): reads in big
        chunks and finds the tagged line without splitting the rest."""
        self.tag += 1
        tag = b"x%d " % self.tag
        self.writer.write(tag + text + b"\r\n")
        marker = b"\n" + tag
        start = 0
        while True:
            if self.buf.startswith(tag):
                pos = -1
            else:
                pos = self.buf.find(marker, start)
                if pos < 0:
                    start = max(len(self.buf) - len(marker), 0)
                    await self._more()
                    continue
            end = self.buf.find(b"\r\n", pos + 1)
            while end < 0:
                await self._more()
                end = self.buf.find(b"\r\n", pos + 1)
            data = bytes(self.buf[: pos + 1])
            self.last = bytes(self.buf[pos + 1 : end + 2])
            del self.buf[: end + 2]
            if not self.last[len(tag) :].startswith(b"OK"):
                raise ImapError(self.last.decode(errors="replace").strip())
            return data

    async def idle_start(self) -> None:
        self.tag += 1
        self.writer.write(b"x%d IDLE\r\n" % self.tag)
        line = await self._line()
        if not line.startswith(b"+"):
            raise ImapError(line.decode(errors="replace").strip())

    def close(self) -> None:
        self.writer.close()
