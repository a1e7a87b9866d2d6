"""The errors the store raises on purpose, and the flag modes: every role and the
API import them from here, and this module imports nothing, so no role needs api.py."""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AlreadyExists",
    "FlagMode",
    "NotFound",
    "OverQuota",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
]

FlagMode = Literal["add", "remove", "replace"]


class StoreError(Exception):
    """Base of the errors the store raises on purpose."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class OverQuota(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The database cannot be reached or used right now (store/faults.py)."""


class StoreFull(StoreError):
    """The database cannot grow: its disk is full (store/faults.py)."""
