"""The store: the only package that speaks SQL (see store/api.py for the contract)."""

from __future__ import annotations

from postfach.store.api import (
    AlreadyExists,
    NotFound,
    OverQuota,
    StoreApi,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from postfach.store.events import Hub
from postfach.store.locks import LocksMixin
from postfach.store.mail import MailMixin, NewMessage
from postfach.store.queue import QueueMixin
from postfach.store.web import WebMixin

__all__ = [
    "AlreadyExists",
    "Hub",
    "NewMessage",
    "NotFound",
    "OverQuota",
    "Store",
    "StoreApi",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
]


class Store(WebMixin, MailMixin, LocksMixin, QueueMixin):
    """SQLite or PostgreSQL behind the narrow API of `StoreApi`."""

    @classmethod
    async def connect(cls, url: str, *, migrate: bool = True) -> Store:
        store = await cls.open(url, migrate=migrate)
        assert isinstance(store, Store)
        return store
