"""Fixtures for the POP3 tests: a running server and helpers to fill maildrops.

`server` comes from tests/conftest.py when it exists; until then the fallback
below starts the real App on loopback with every listener on port 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from postfach.app import App
from postfach.auth.passwords import hash_password_async
from postfach.config import (
    AuthConfig,
    Config,
    ListenersConfig,
    ServerConfig,
    StorageConfig,
)
from postfach.context import ServerContext
from postfach.store.records import Account


@dataclass
class _Server:
    app: App
    host: str = "127.0.0.1"

    def port(self, name: str) -> int:
        return self.app.port(name)

    @property
    def ctx(self) -> ServerContext:
        return self.app.ctx

    async def add_user(self, address: str, password: str, **settings: Any) -> Account:
        store = self.ctx.store
        domain = address.rsplit("@", 1)[1]
        if await store.get_domain(domain) is None:
            await store.add_domain(domain)
        account = await store.add_account(address, await hash_password_async(password))
        if settings:
            account = await store.update_account(account.id, **settings)
        return account


@contextlib.asynccontextmanager
async def _make_server(tmp_path: Path, **sections: dict[str, Any]) -> AsyncIterator[_Server]:
    listeners = {name: "127.0.0.1:0" for name in ("pop3", "pop3s")}
    config = Config(
        server=ServerConfig(hostname="mail.example.org", data_dir=str(tmp_path)),
        storage=StorageConfig(url=f"sqlite:///{tmp_path / 'postfach.db'}"),
        listeners=ListenersConfig(
            smtp="", submission="", submissions="", imap="", imaps="", http="", **listeners
        ),
        auth=AuthConfig(allow_plaintext=True),
    )
    for name, values in sections.items():
        config = replace(config, **{name: replace(getattr(config, name), **values)})
    app = App(config)
    await app.start()
    try:
        yield _Server(app)
    finally:
        await app.stop()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[_Server]:
    async with _make_server(tmp_path) as srv:
        yield srv


@pytest.fixture
def make_server() -> Any:
    return _make_server

