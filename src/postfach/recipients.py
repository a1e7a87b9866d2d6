"""A short-lived cache of "which accounts does this address reach".

A busy MX resolves the same few recipients over and over: at RCPT and again at
delivery. Hits are reused for a moment, and concurrent misses for one address
share one store query. Each caller says which answers may be kept: delivery
keeps only addresses that exist (a new account receives mail at once), the
RCPT check keeps none whose quota it must read fresh.

`postmaster@` and `abuse@` of every local domain reach someone (RFC 5321
§4.5.1, RFC 2142) without an alias per domain: an account or alias of that
name wins, else `server.postmaster`, else the first account made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from postfach.store.api import StoreApi
from postfach.store.records import Account

__all__ = ["ROLE_NAMES", "RecipientCache", "is_role_address"]

ROLE_NAMES = frozenset({"postmaster", "abuse"})


def is_role_address(address: str) -> bool:
    """postmaster@ or abuse@ of some domain (the local part compared caselessly)."""
    local, at, _domain = address.rpartition("@")
    return bool(at) and local.lower() in ROLE_NAMES


class RecipientCache:
    def __init__(
        self,
        store: StoreApi,
        keep: Callable[[list[Account]], bool],
        ttl: float = 2.0,
        size: int = 10_000,
        postmaster: str = "",
    ) -> None:
        self._store = store
        self._postmaster = postmaster  # who gets postmaster@/abuse@; "": the first account
        self._keep = keep
        self._ttl = ttl
        self._size = size
        self._hits: dict[str, tuple[float, list[Account]]] = {}
        self._pending: dict[str, asyncio.Future[list[Account]]] = {}

    async def resolve(self, address: str) -> list[Account]:
        key = address.lower()
        hit = self._hits.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(key, address))
            self._pending[key] = pending
            pending.add_done_callback(lambda f: self._done(key, f))
        return await asyncio.shield(pending)

    async def _lookup(self, key: str, address: str) -> list[Account]:
        accounts = await self._store.accounts.resolve(address)
        if not accounts and is_role_address(address):
            accounts = await self._role_accounts()
        if self._keep(accounts):
            if len(self._hits) >= self._size:
                self._hits.clear()
            self._hits[key] = (time.monotonic() + self._ttl, accounts)
        return accounts

    async def _role_accounts(self) -> list[Account]:
        """Who reads postmaster@ and abuse@ where no account or alias has the name."""
        if self._postmaster:
            return await self._store.accounts.resolve(self._postmaster)
        first = await self._store.accounts.first_account()
        return [first] if first is not None else []

    def _done(self, key: str, future: asyncio.Future[list[Account]]) -> None:
        self._pending.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here; each waiter gets it raised
