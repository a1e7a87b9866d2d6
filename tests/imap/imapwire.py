"""A raw-socket IMAP client for transcript tests: send lines, read exact responses.

`c.cmd("SELECT INBOX")` sends a tagged command and returns (untagged lines,
tagged line); `c.ok(...)` asserts the tagged status. Lines are str without
CRLF; literals are kept inline (`{5}` then the octets on the next "line").
"""

from __future__ import annotations

import asyncio
import itertools
import re

__all__ = ["Wire"]

TIMEOUT = 10


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting = ""
        self.last_tag = ""
        self._tags = (f"t{n}" for n in itertools.count(1))

    @classmethod
    async def connect(cls, host: str, port: int) -> Wire:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        client = cls(reader, writer)
        client.greeting = await client.line()
        return client

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def next_tag(self) -> str:
        return next(self._tags)

    async def send(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.writer.write(raw)
        await self.writer.drain()

    async def line(self) -> str:
        """One response line; a literal it announces is appended (decoded latin-1)."""
        raw = await asyncio.wait_for(self.reader.readuntil(b"\n"), TIMEOUT)
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        while (m := re.search(r"~?\{(\d+)\}$", text)) is not None:
            data = await asyncio.wait_for(self.reader.readexactly(int(m.group(1))), TIMEOUT)
            rest = await asyncio.wait_for(self.reader.readuntil(b"\n"), TIMEOUT)
            text += "\r\n" + data.decode("latin-1") + rest.decode("utf-8", "replace").rstrip("\r\n")
        return text

    async def expect(self, pattern: str) -> re.Match[str]:
        text = await self.line()
        match = re.fullmatch(pattern, text, re.S)
        assert match is not None, f"{text!r} does not match {pattern!r}"
        return match

    async def cmd(self, command: str | bytes, tag: str | None = None) -> tuple[list[str], str]:
        tag = tag or self.next_tag()
        self.last_tag = tag
        raw = command.encode() if isinstance(command, str) else command
        await self.send(tag.encode() + b" " + raw + b"\r\n")
        return await self.until_tagged(tag)

    async def until_tagged(self, tag: str) -> tuple[list[str], str]:
        untagged: list[str] = []
        while True:
            text = await self.line()
            if text.startswith(tag + " "):
                return untagged, text[len(tag) + 1 :]
            untagged.append(text)

    async def ok(self, command: str | bytes) -> list[str]:
        untagged, status = await self.cmd(command)
        assert status.startswith("OK"), f"{command!r}: {status} {untagged}"
        return untagged

    async def no(self, command: str | bytes) -> str:
        untagged, status = await self.cmd(command)
        assert status.startswith("NO"), f"{command!r}: {status} {untagged}"
        return status

    async def bad(self, command: str | bytes) -> str:
        untagged, status = await self.cmd(command)
        assert status.startswith("BAD"), f"{command!r}: {status} {untagged}"
        return status

    async def login(self, user: str, password: str) -> None:
        await self.ok(f'LOGIN "{user}" "{password}"')
