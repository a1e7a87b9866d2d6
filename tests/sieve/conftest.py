"""The served postfach with a sink, on each backend, for the Sieve wire tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import BACKENDS

from .sievewire import SieveServer, sieve_server


@pytest.fixture(params=BACKENDS)
async def sieve(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SieveServer]:
    async with sieve_server(tmp_path, request.param) as running:
        yield running
