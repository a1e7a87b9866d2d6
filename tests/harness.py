"""Test harness: a store on each backend, and a whole running server on loopback.

`store` runs every store test on SQLite and, when POSTFACH_TEST_PG holds a URL,
on PostgreSQL too (CI always sets it). `server` starts the real App with every
listener on an ephemeral port of 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from postfach.app import App
from postfach.auth.passwords import hash_password_async
from postfach.config import config_from_dict
from postfach.context import ServerContext
from postfach.store import Store
from postfach.store.records import Account, Mailbox


def worker_database(url: str, worker: str) -> str:
    """`url` with the database name `<name>_<worker>`: each pytest-xdist worker
    empties and fills its own database, never another's."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_{worker}"))


# POSTFACH_TEST_PG as given; PG_URL is the database this process's tests use: the
# same when run serially, a database of its own in each xdist worker (gw0, gw1, ...),
# made by tests/conftest.py at the start of the worker's session.
PG_BASE_URL = os.environ.get("POSTFACH_TEST_PG", "")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = PG_BASE_URL
if PG_BASE_URL and XDIST_WORKER:
    PG_URL = worker_database(PG_BASE_URL, XDIST_WORKER)
DOMAIN = "example.org"

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set"),
    ),
]


async def reset_postgres(url: str) -> None:
    """Empties the test database: every test starts from a fresh schema."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def create_worker_database() -> None:
    """(Re)creates this xdist worker's database through a connection to POSTFACH_TEST_PG's:
    a run left over from before (or killed) leaves nothing behind for this one."""
    import asyncpg

    if PG_URL == PG_BASE_URL:
        return
    name = urlsplit(PG_URL).path.lstrip("/")
    quoted = '"' + name.replace('"', '""') + '"'
    conn = await asyncpg.connect(PG_BASE_URL)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


async def storage_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        await reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'postfach.db'}"


@dataclass
class TestServer:
    __test__ = False  # a helper, not a test class
    app: App
    host: str = "127.0.0.1"

    @property
    def ctx(self) -> ServerContext:
        return self.app.ctx

    def port(self, name: str) -> int:
        return self.app.port(name)

    async def add_user(self, address: str, password: str, **settings: Any) -> Account:
        store = self.ctx.store
        domain = address.rpartition("@")[2]
        if await store.accounts.get_domain(domain) is None:
            await store.accounts.add_domain(domain)
        account = await store.accounts.add_account(address, await hash_password_async(password))
        if settings:
            account = await store.accounts.update_account(account.id, **settings)
        return account


def server_config_dict(tmp_path: Path, url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    listeners = {
        name: "127.0.0.1:0"
        for name in (
            "smtp",
            "submission",
            "submissions",
            "imap",
            "imaps",
            "pop3",
            "pop3s",
            "http",
            "devices",
            "managesieve",
        )
    }
    # No https listener unless a test asks for one: beside it, http would only
    # redirect, and the tests speak plain HTTP to the pages (tests/https/ speak TLS).
    listeners["https"] = ""
    data: dict[str, Any] = {
        "server": {"hostname": "mail.example.org", "data_dir": str(tmp_path / "data")},
        "storage": {"url": url},
        "listeners": listeners,
        "auth": {"allow_plaintext": True},
        "retention": {"interval": 3600.0},
    }
    for section, values in sections.items():
        if section == "transport":
            data["transport"] = dict(values)
        else:
            data.setdefault(section, {}).update(values)
    return data


@contextlib.asynccontextmanager
async def make_server(
    tmp_path: Path, backend: str = "sqlite", **sections: dict[str, Any]
) -> AsyncIterator[TestServer]:
    """A running App; keyword arguments override config sections, e.g. auth={...}."""
    url = await storage_url(backend, tmp_path)
    async with run_node(tmp_path, url, **sections) as running:
        yield running


@contextlib.asynccontextmanager
async def run_node(
    tmp_path: Path, url: str, **sections: dict[str, Any]
) -> AsyncIterator[TestServer]:
    """A running App on the store at `url` as it is: a second node on the database of
    another makes sessions on two nodes (changes between them travel like between
    the workers of one server, never at once)."""
    config = config_from_dict(server_config_dict(tmp_path, url, **sections), "test")
    app = App(config)
    await app.start()
    try:
        if await app.ctx.store.accounts.get_domain(DOMAIN) is None:
            await app.ctx.store.accounts.add_domain(DOMAIN)
        yield TestServer(app)
    finally:
        await app.stop()


async def new_inbox(store: Store, address: str) -> Mailbox:
    """A new account at `address` (its domain made if missing) and its INBOX."""
    domain = address.rpartition("@")[2]
    if await store.accounts.get_domain(domain) is None:
        await store.accounts.add_domain(domain)
    account = await store.accounts.add_account(address, "x")
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    return inbox
