"""Fixtures every test directory shares; the machinery lives in tests/harness.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import BACKENDS, TestServer, create_worker_database, make_server, storage_url
from postfach.store import Store


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist, the tests that must share a worker (tests/support/xdist_groups.py)."""
    if config.pluginmanager.hasplugin("xdist"):
        from support.xdist_groups import XdistGroups

        config.pluginmanager.register(XdistGroups(config.rootpath), "postfach-xdist-groups")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, this worker's own PostgreSQL database (harness.PG_URL)."""
    asyncio.run(create_worker_database())


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = await storage_url(request.param, tmp_path)
    store = await Store.connect(url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with make_server(tmp_path) as running:
        yield running
