"""Named leases: one POP3 session per account at a time.

On PostgreSQL the leases live in the database, so they hold across nodes. On
SQLite the server is one machine: with several worker processes the leases
live in the runtime file they share (store/runtime.py), with one process in
its memory. Either way a lease taken and dropped with every POP3 session is no
write transaction on the mail database and no fsync.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store.base import StoreBase
from postfach.store.schema import locks

__all__ = ["LocksMixin"]


class LocksMixin(StoreBase):
    _leases: dict[str, tuple[str, float]]

    def _memory_leases(self) -> dict[str, tuple[str, float]] | None:
        if self.dialect != "sqlite":
            return None
        if not hasattr(self, "_leases"):
            self._leases = {}
        return self._leases

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        if self.dialect == "sqlite" and self.runtime is not None:
            return self.runtime.try_lock(name, owner, ttl)
        leases = self._memory_leases()
        if leases is not None:
            held = leases.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            leases[name] = (owner, now + ttl)
            return True
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
        if self.dialect == "sqlite" and self.runtime is not None:
            return self.runtime.refresh_lock(name, owner, ttl)
        leases = self._memory_leases()
        if leases is not None:
            held = leases.get(name)
            if held is None or held[0] != owner:
                return False
            leases[name] = (owner, time.time() + ttl)
            return True
        async with self.write() as tx:
            result = await tx.execute(
                update(locks)
                .where(locks.c.name == name, locks.c.owner == owner)
                .values(expires=time.time() + ttl)
            )
            return bool(result.rowcount)

    async def unlock(self, name: str, owner: str) -> None:
        if self.dialect == "sqlite" and self.runtime is not None:
            self.runtime.unlock(name, owner)
            return
        leases = self._memory_leases()
        if leases is not None:
            held = leases.get(name)
            if held is not None and held[0] == owner:
                del leases[name]
            return
        async with self.write() as tx:
            await tx.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))
