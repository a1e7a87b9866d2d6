"""IMAP test fixtures: a running server with one user, and raw-wire clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tests.imap.imapwire import Wire

from harness import TestServer

USER = "a@example.org"
PASSWORD = "secret-pass"


@pytest.fixture
async def imap(server: TestServer) -> TestServer:
    await server.add_user(USER, PASSWORD)
    return server


@pytest.fixture
async def wire(imap: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    """A factory of raw connections: `c = await wire(login=True, select="INBOX")`."""
    opened: list[Wire] = []

    async def connect(login: bool = True, select: str | None = None) -> Wire:
        client = await Wire.connect(imap.host, imap.port("imap"))
        opened.append(client)
        if login:
            await client.login(USER, PASSWORD)
        if select:
            await client.ok(f"SELECT {select}")
        return client

    yield connect
    for client in opened:
        await client.close()
