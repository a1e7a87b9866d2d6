"""A raw SMTP transcript client for tests: send lines, read whole replies."""

from __future__ import annotations

import asyncio
import base64
import ssl

from support.net import insecure_tls_context


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, *, tls: bool = False) -> Wire:
        context = insecure_tls_context() if tls else None
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        return cls(reader, writer)

    async def reply(self, timeout: float = 10) -> tuple[int, str]:
        """One (possibly multi-line) reply: (code, text lines joined with \\n)."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                raise ConnectionError("closed")
            text = line.decode("utf-8").rstrip("\r\n")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data.endswith(b"\n"):
            data += b"\r\n"
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, line: bytes | str) -> tuple[int, str]:
        await self.send(line)
        return await self.reply()

    async def expect(self, line: bytes | str, code: int) -> str:
        got, text = await self.cmd(line)
        assert got == code, f"{line!r}: expected {code}, got {got} {text}"
        return text

    async def start(self, helo: str = "client.example") -> str:
        code, _ = await self.reply()
        assert code == 220
        return await self.expect(f"EHLO {helo}", 250)

    async def login(self, user: str, password: str) -> None:
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.expect(f"AUTH PLAIN {token}", 235)

    async def starttls(self) -> None:
        await self.expect("STARTTLS", 220)
        await self.writer.start_tls(insecure_tls_context())

    async def closed(self, timeout: float = 5) -> bool:
        data = await asyncio.wait_for(self.reader.read(), timeout)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def reply_of(reply: object) -> tuple[int, str]:
    """(code, "x.y.z text") of a replies.Reply, as Wire.reply returns it."""
    code = reply.code  # type: ignore[attr-defined]
    status = reply.status  # type: ignore[attr-defined]
    text = reply.text  # type: ignore[attr-defined]
    return code, f"{status} {text}" if status else text
