"""Named leases in the database: one POP3 session per account, across nodes too."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store.base import StoreBase
from postfach.store.schema import locks

__all__ = ["LocksMixin"]


class LocksMixin(StoreBase):
    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
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
        async with self.write() as tx:
            result = await tx.execute(
                update(locks)
                .where(locks.c.name == name, locks.c.owner == owner)
                .values(expires=time.time() + ttl)
            )
            return bool(result.rowcount)

    async def unlock(self, name: str, owner: str) -> None:
        async with self.write() as tx:
            await tx.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))
