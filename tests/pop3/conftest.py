"""POP3 fixtures: `server` comes from tests/conftest.py; `make_server` for custom configs."""

from __future__ import annotations

from typing import Any

import pytest

from harness import make_server as _make_server


@pytest.fixture
def make_server() -> Any:
    """`async with make_server(tmp_path, auth={...}) as server:` (tests/harness.py)."""
    return _make_server
