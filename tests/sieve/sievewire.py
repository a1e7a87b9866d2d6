"""Sieve over the wire: a served postfach with a loopback DNS zone (fast, empty:
SPF and DMARC "none") and an SMTP sink standing for example.net; mail comes in
on the MX port (smtplib), lands where the script says, is read back over IMAP."""

from __future__ import annotations

import asyncio
import contextlib
import email
import imaplib
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import TestServer, make_server
from postfach.sieve import compile_script
from smtp.outbound import eventually
from support.dnszone import serve_zone
from support.smtpsink import Sink

__all__ = [
    "BOB",
    "PASSWORD",
    "SieveServer",
    "eventually",
    "message",
    "sieve_server",
]

BOB = "bob@example.org"
CAROL = "carol@example.org"
PASSWORD = "pw-sieve"


def message(
    subject: str = "hello",
    body: str = "Hello Bob.",
    *,
    sender: str = "alice@sender.test",
    to: str = BOB,
    extra: str = "",
    mid: str = "",
) -> bytes:
    mid = mid or f"<{abs(hash((subject, body, extra))) % 10**12}@sender.test>"
    return (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Sun, 06 Dec 2026 17:00:00 +0000\r\nMessage-ID: {mid}\r\n{extra}"
        f"\r\n{body}\r\n"
    ).encode()


@dataclass
class Folder:
    """One message of a folder as IMAP shows it."""

    flags: set[str]
    raw: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.raw)


@dataclass
class SieveServer:
    server: TestServer
    sink: Sink

    @property
    def store(self) -> Any:
        return self.server.ctx.store

    async def script(self, text: str, address: str = BOB, name: str = "main") -> None:
        """Installs and activates a script, after compiling it as upload does."""
        compile_script(text)
        account = await self.store.accounts.get_account(address)
        await self.store.sieve.put_script(account.id, name, text)
        assert await self.store.sieve.set_active(account.id, name)

    async def send(
        self, raw: bytes, sender: str = "alice@sender.test", to: list[str] | None = None
    ) -> dict[str, tuple[int, bytes]]:
        """Sends over SMTP to the MX port; smtplib's refusals per recipient."""
        port = self.server.port("smtp")

        def deliver() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port) as client:
                return client.sendmail(sender, to or [BOB], raw)

        return await asyncio.to_thread(deliver)

    async def submit(self, raw: bytes, login: str, to: list[str]) -> None:
        """Sends as a logged-in user on the submission port."""
        port = self.server.port("submission")

        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.login(login, PASSWORD)
                client.sendmail(login, to, raw)

        await asyncio.to_thread(deliver)

    async def folder(self, name: str = "INBOX", address: str = BOB) -> list[Folder]:
        port = self.server.port("imap")

        def read() -> list[Folder]:
            client = imaplib.IMAP4("127.0.0.1", port)
            try:
                client.login(address, PASSWORD)
                status, _ = client.select(f'"{name}"', readonly=True)
                if status != "OK":
                    return []
                _, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
                found = []
                for part in data:
                    if isinstance(part, tuple):
                        flags = imaplib.ParseFlags(part[0])
                        found.append(Folder({f.decode() for f in flags} - {"\\Recent"}, part[1]))
                return found
            finally:
                client.logout()

        return await asyncio.to_thread(read)

    async def folders(self, address: str = BOB) -> set[str]:
        account = await self.store.accounts.get_account(address)
        return {m.name for m in await self.store.mailboxes.list_mailboxes(account.id)}

    async def drained(self) -> None:
        """Waits until the outbound queue has nothing left."""

        async def empty() -> bool:
            return not await self.store.queue.entries()

        assert await eventually(empty), "the queue did not drain"

    async def sunk(self, count: int = 1) -> list[Any]:
        """Waits until the sink holds `count` messages; returns what it holds."""

        async def enough() -> bool:
            return len(self.sink.received) >= count

        assert await eventually(enough), f"the sink got {len(self.sink.received)} of {count}"
        return list(self.sink.received)


@contextlib.asynccontextmanager
async def sieve_server(
    tmp_path: Path, backend: str, **sections: dict[str, Any]
) -> AsyncIterator[SieveServer]:
    sink = await Sink().start()
    try:
        with serve_zone() as zone:
            async with make_server(
                tmp_path,
                backend,
                transport={"example.net": f"127.0.0.1:{sink.port}"},
                dns={"nameservers": [zone.address], "timeout": 1.0},
                queue={"retry_base": 0.2},
                **sections,
            ) as server:
                await server.add_user(BOB, PASSWORD)
                await server.add_user(CAROL, PASSWORD)
                yield SieveServer(server, sink)
    finally:
        await sink.stop()
