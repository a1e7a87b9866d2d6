"""Helpers for the POP3 wire tests: poplib in a thread, a raw transcript client, mail."""

from __future__ import annotations

import asyncio
import poplib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from postfach.store.records import Account, Mailbox, StoredMessage
from support.net import insecure_tls_context

T = TypeVar("T")
PASSWORD = "secret"


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """poplib blocks: run it off the loop the server lives on."""
    return await asyncio.to_thread(fn, *args)


def connect(server: Any, *, tls: bool = False) -> poplib.POP3:
    if tls:
        context = insecure_tls_context()
        return poplib.POP3_SSL(server.host, server.port("pop3s"), context=context, timeout=10)
    return poplib.POP3(server.host, server.port("pop3"), timeout=10)


def login(server: Any, user: str = "a@example.org", password: str = PASSWORD) -> poplib.POP3:
    pop = connect(server)
    pop.user(user)
    pop.pass_(password)
    return pop


def message(n: int, body: bytes = b"") -> bytes:
    return (
        b"From: sender@example.net\r\nTo: a@example.org\r\n"
        b"Subject: message %d\r\nMessage-ID: <%d@example.net>\r\n\r\n" % (n, n)
        + (body or b"body of message %d\r\n" % n)
    )


async def folder(server: Any, account: Account, name: str = "INBOX") -> Mailbox:
    mailbox = await server.ctx.store.mailboxes.get_mailbox(account.id, name)
    assert mailbox is not None
    return mailbox


async def fill(server: Any, account: Account, raws: list[bytes], name: str = "INBOX") -> Mailbox:
    mailbox = await folder(server, account, name)
    for raw in raws:
        await server.ctx.store.mail.append(mailbox.id, raw)
    return mailbox


async def stored(server: Any, account: Account, name: str = "INBOX") -> list[StoredMessage]:
    store = server.ctx.store
    mailbox = await folder(server, account, name)
    index = await store.mail.message_index(mailbox.id)
    return await store.mail.get_messages(mailbox.id, [m.uid for m in index])


class Wire:
    """A raw POP3 transcript: send lines, read status lines and multi-line bodies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: Any, listener: str = "pop3") -> Wire:
        ctx = insecure_tls_context() if listener == "pop3s" else None
        reader, writer = await asyncio.open_connection(
            server.host, server.port(listener), ssl=ctx
        )
        wire = cls(reader, writer)
        assert (await wire.line()).startswith(b"+OK")
        return wire

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        data = await asyncio.wait_for(self.reader.readline(), 10)
        return data

    async def cmd(self, line: bytes) -> bytes:
        await self.send(line + b"\r\n")
        return await self.line()

    async def body(self) -> list[bytes]:
        lines = []
        while True:
            line = await self.line()
            assert line.endswith(b"\r\n"), line
            if line == b".\r\n":
                return lines
            lines.append(line[:-2])

    async def login(self, user: str = "a@example.org", password: str = PASSWORD) -> None:
        assert (await self.cmd(b"USER " + user.encode())).startswith(b"+OK")
        reply = await self.cmd(b"PASS " + password.encode())
        assert reply.startswith(b"+OK"), reply

    async def closed(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(), 10)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
