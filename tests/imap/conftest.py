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

The shared server runs on SQLite and, when POSTFACH_TEST_PG is set, on
PostgreSQL too: every test that uses it runs on both (pytest groups them by
backend, so each server starts once, and stops before tests of other
directories empty the PostgreSQL database). `other_node` is a second App on the
same database, for sessions on one mailbox whose changes reach each other
only through the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.imap.imapwire import Wire

from harness import BACKENDS, TestServer, make_server, run_node
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


@pytest_asyncio.fixture(scope="package", loop_scope="session", params=BACKENDS)
async def shared_imap_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestServer]:
    tmp = tmp_path_factory.mktemp("imap")
    async with make_server(tmp, request.param, auth=RELAXED) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def other_node(
    shared_imap_server: TestServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestServer]:
    """A second App on the shared server's database (its own hub, caches and \\Recent)."""
    url = shared_imap_server.ctx.config.storage.url
    async with run_node(tmp_path_factory.mktemp("imap-node"), url, auth=RELAXED) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def imap(shared_imap_server: TestServer) -> AsyncIterator[TestServer]:
    server = IsolatedServer(shared_imap_server.app)
    server.added = []
    await server.add_user(USER, PASSWORD)
    try:
        yield server
    finally:
        for address in server.added:
            if await server.ctx.store.accounts.get_account(address) is not None:
                await server.ctx.store.accounts.remove_account(address)


@contextlib.asynccontextmanager
async def _wires(server: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    opened: list[Wire] = []

    async def connect(login: bool = True, select: str | None = None) -> Wire:
        client = await Wire.connect(server.host, server.port("imap"))
        opened.append(client)
        if login:
            await client.login(USER, PASSWORD)
        if select:
            await client.ok(f"SELECT {select}")
        return client

    try:
        yield connect
    finally:
        for client in opened:
            await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def wire(imap: TestServer) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    """A factory of raw connections: `c = await wire(login=True, select="INBOX")`."""
    async with _wires(imap) as connect:
        yield connect


@pytest_asyncio.fixture(loop_scope="session")
async def wire_b(
    imap: TestServer, other_node: TestServer
) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    """Like `wire`, to the other node: `b = await wire_b(select="INBOX")`."""
    async with _wires(other_node) as connect:
        yield connect


# Every IMAP test runs on both backends now (shared_imap_server is parametrised);
# the names the extension tests were written with stay as aliases.
@pytest_asyncio.fixture(loop_scope="session")
async def imap_any(imap: TestServer) -> AsyncIterator[TestServer]:
    yield imap


@pytest_asyncio.fixture(loop_scope="session")
async def wire_any(
    wire: Callable[..., Awaitable[Wire]],
) -> AsyncIterator[Callable[..., Awaitable[Wire]]]:
    yield wire
