"""The locks role (`store.locks`), named leases: one POP3 session per account at a time.

Owns the `locks` table (used on PostgreSQL only).

On PostgreSQL the leases live in the database, so they hold across nodes. On
SQLite the server is one machine: with several worker processes the leases
live in the runtime file they share (store/runtime.py), with one process in
its memory. Either way a lease taken and dropped with every POP3 session is no
write transaction on the mail database and no fsync.
"""

from __future__ import annotations

import time
from typing import Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store.base import Role, StoreBase
from postfach.store.schema import locks

__all__ = ["Locks"]


class _LocalLeases(Protocol):
    """Leases kept on this machine (SQLite): in memory or in the runtime file."""

    def try_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    def refresh_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    def unlock(self, name: str, owner: str) -> None: ...


class _MemoryLeases:
    """The leases of a server that is one process."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        held = self._held.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._held[name] = (owner, now + ttl)
        return True

    def refresh_lock(self, name: str, owner: str, ttl: float) -> bool:
        held = self._held.get(name)
        if held is None or held[0] != owner:
            return False
        self._held[name] = (owner, time.time() + ttl)
        return True

    def unlock(self, name: str, owner: str) -> None:
        held = self._held.get(name)
        if held is not None and held[0] == owner:
            del self._held[name]


class Locks(Role):
    """Leases across processes and nodes; see `LocksApi` (store/api.py)."""

    def __init__(self, db: StoreBase) -> None:
        super().__init__(db)
        self._memory = _MemoryLeases()

    def _local_leases(self) -> _LocalLeases | None:
        """None on PostgreSQL, where the leases are rows of the shared database."""
        if self.dialect != "sqlite":
            return None
        if self.db.runtime is not None:
            return self.db.runtime
        return self._memory

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        local = self._local_leases()
        if local is not None:
            return local.try_lock(name, owner, ttl)
        now = time.time()
        try:
            async with self.write() as tx:
                row = (await tx.execute(select(locks).where(locks.c.name == name))).first()
                if row is None:
                    await tx.execute(
                        insert(locks).values(name=name, owner=owner, expires=now + ttl)
                    )
                    return True
                if row.owner != owner and row.expires > now:
                    return False
                await tx.execute(
                    update(locks)
                    .where(locks.c.name == name, locks.c.owner == row.owner)
                    .values(owner=owner, expires=now + ttl)
                )
                return True
        except IntegrityError:  # another node inserted it first
            return False

    async def refresh_lock(self, name: str, owner: str, ttl: float) -> bool:
        local = self._local_leases()
        if local is not None:
            return local.refresh_lock(name, owner, ttl)
        async with self.write() as tx:
            result = await tx.execute(
                update(locks)
                .where(locks.c.name == name, locks.c.owner == owner)
                .values(expires=time.time() + ttl)
            )
            return bool(result.rowcount)

    async def unlock(self, name: str, owner: str) -> None:
        local = self._local_leases()
        if local is not None:
            local.unlock(name, owner)
            return
        async with self.write() as tx:
            await tx.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))
