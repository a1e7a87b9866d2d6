"""ManageSieve fixtures: a running server on each backend with one user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import BACKENDS, TestServer, make_server

from .helpers import PASSWORD, USER


@pytest.fixture(params=BACKENDS)
async def sieve_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    """The whole server (SQLite, and PostgreSQL when POSTFACH_TEST_PG is set), with USER."""
    async with make_server(tmp_path, request.param) as server:
        await server.add_user(USER, PASSWORD)
        yield server


@pytest.fixture(params=BACKENDS)
async def tls_only_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TestServer]:
    """auth.allow_plaintext off: PLAIN only after STARTTLS."""
    async with make_server(tmp_path, request.param, auth={"allow_plaintext": False}) as server:
        await server.add_user(USER, PASSWORD)
        yield server
