"""IMAP test fixtures: one running server for the whole IMAP suite, a fresh user
per test, and raw-wire clients.

Starting the App (every listener, the web server, the mailing service) costs
more than most IMAP tests, so the tests of this directory share one server in
the session's event loop. Each test gets the account `USER` created anew and
removed afterwards (with every other account it added), which also ends any
session left over from the test; nothing else a test can change is shared.
Failed-login throttling is relaxed on this server so that tests with wrong
passwords cannot lock out the next ones; tests that need another
configuration start their own with `make_server`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.imap.imapwire import Wire

from harness import BACKENDS, TestServer, make_server
from postfach.store.records import Account

USER = "a@example.org"
PASSWORD = "secret-pass"
HERE = Path(__file__).parent
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test here runs in the session loop, where the shared server lives."""
    for item in items:
        if item.path.is_relative_to(HERE) and pytest_asyncio.is_async_test(item):
            item.add_marker(SESSION_LOOP, append=False)


class IsolatedServer(TestServer):
    """The shared server, remembering the accounts a test adds."""

    added: list[str]

    async def add_user(self, address: str, password: str, **settings: Any) -> Account:
        account = await super().add_user(address, password, **settings)
        self.added.append(address)
        return account


RELAXED = {"max_failures": 10_000, "address_max_failures": 10_000, "user_max_failures": 10_000}


@contextlib.asynccontextmanager
async def imap_server_on(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestServer]:
    """The IMAP test server on one store backend ("sqlite" or "postgresql")."""
    async with make_server(tmp_path_factory.mktemp("imap"), backend, auth=RELAXED) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_imap_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestServer]:
    async with imap_server_on("sqlite", tmp_path_factory) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=BACKENDS)
async def backend_imap_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestServer]:
    """Like `shared_imap_server`, once on SQLite and once on PostgreSQL (when
    POSTFACH_TEST_PG is set), for the tests that must hold on both stores. Per
    module: the PostgreSQL one is gone before other tests reset that database."""
    async with imap_server_on(request.param, tmp_path_factory) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def imap(shared_imap_server: TestServer) -> AsyncIterator[TestServer]:
    async for server in _isolated(shared_imap_server):
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def imap_any(backend_imap_server: TestServer) -> AsyncIterator[TestServer]:
    """`imap` on each backend."""
    async for server in _isolated(backend_imap_server):
        yield server


async def _isolated(shared: TestServer) -> AsyncIterator[TestServer]:
    server = IsolatedServer(shared.app)
    server.added = []
    await server.add_user(USER, PASSWORD)
    try:
        yield server
    finally:
        for address in server.added:
            if await server.ctx.store.accounts.get_account(address) is not None:
                await server.ctx.store.accounts.remove_account(address)


@pytest_asyncio.fixture(loop_scope="session")
async def wire(imap: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    """A factory of raw connections: `c = await wire(login=True, select="INBOX")`."""
    async for connect in _wires(imap):
        yield connect


@pytest_asyncio.fixture(loop_scope="session")
async def wire_any(imap_any: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    """`wire` on each backend."""
    async for connect in _wires(imap_any):
        yield connect


async def _wires(imap: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
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
