"""A raw ManageSieve client for the wire tests: commands, literals, responses."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from typing import Any

from support.net import insecure_tls_context

USER = "alice@example.org"
PASSWORD = "sieve secret 1"
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_CAPABILITY = re.compile(rb'^"([^"]*)"(?: "([^"]*)")?$')

GOOD_SCRIPT = (
    'require "fileinto";\r\nif header :contains "subject" "list" {\r\n  fileinto "Lists";\r\n}\r\n'
)


def plain(user: str = USER, password: str = PASSWORD) -> bytes:
    return base64.b64encode(b"\x00" + user.encode() + b"\x00" + password.encode())


def literal(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"{%d+}\r\n" % len(data) + data


@dataclass
class Response:
    lines: list[bytes]  # the data lines before the status line, literals joined in
    status: bytes  # the whole final OK/NO/BYE line, without CRLF
    extra: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status.startswith(b"OK")

    @property
    def capabilities(self) -> dict[str, str | None]:
        caps: dict[str, str | None] = {}
        for line in self.lines:
            match = _CAPABILITY.match(line)
            assert match, line
            value = match.group(2)
            caps[match.group(1).decode()] = None if value is None else value.decode()
        return caps


class Wire:
    """One ManageSieve connection spoken by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting: Response | None = None

    @classmethod
    async def open(cls, server: Any) -> Wire:
        reader, writer = await asyncio.open_connection(server.host, server.port("managesieve"))
        wire = cls(reader, writer)
        wire.greeting = await wire.response()
        assert wire.greeting.ok, wire.greeting
        return wire

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        data = await asyncio.wait_for(self.reader.readline(), 10)
        assert data.endswith(b"\r\n"), data
        line = data[:-2]
        match = _LITERAL.search(line)
        if match:  # a literal: its octets, then the rest of the line
            size = int(match.group(1))
            body = await asyncio.wait_for(self.reader.readexactly(size), 10)
            line = line[: match.start()] + body + await self.line()
        return line

    async def response(self) -> Response:
        lines: list[bytes] = []
        while True:
            line = await self.line()
            if line.startswith((b"OK", b"NO", b"BYE")) and not line.startswith(b'"'):
                return Response(lines, line)
            lines.append(line)

    async def cmd(self, command: bytes) -> Response:
        await self.send(command + b"\r\n")
        return await self.response()

    async def login(self, user: str = USER, password: str = PASSWORD) -> Response:
        return await self.cmd(b'AUTHENTICATE "PLAIN" "' + plain(user, password) + b'"')

    async def starttls(self) -> Response:
        assert (await self.cmd(b"STARTTLS")).ok
        await self.writer.start_tls(insecure_tls_context())
        return await self.response()

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
