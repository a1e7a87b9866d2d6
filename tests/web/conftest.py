"""Web fixtures: `server` (tests/conftest.py) with two accounts and ASGI clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from harness import TestServer
from postfach.store.records import Account

from .webhelpers import PASSWORD, client_for


@dataclass
class Web:
    server: TestServer
    alice: Account
    bob: Account
    client: httpx.AsyncClient

    @property
    def ctx(self):  # noqa: ANN201
        return self.server.ctx

    def new_client(self) -> httpx.AsyncClient:
        return client_for(self.server.ctx)


@pytest.fixture
async def web(server: TestServer) -> AsyncIterator[Web]:
    alice = await server.add_user("alice@example.org", PASSWORD)
    bob = await server.add_user("bob@example.org", PASSWORD)
    async with client_for(server.ctx) as client:
        yield Web(server, alice, bob, client)
