"""Fixtures every test directory shares; the machinery lives in tests/harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import BACKENDS, TestServer, make_server, storage_url
from postfach.store import Store


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
