"""PostgreSQL's prepared look-ups (`StoreBase.fetch`) and delivery's batch insert
(pg_batch.py) on a small pool of asyncpg's own.

The look-ups every protocol command makes (the account, the mailbox, STATUS
counts, a few messages) are one statement each. Through SQLAlchemy's pool each
paid a checkout, its greenlet and the layers around the driver, which cost more
than the statement itself (on SQLite the same look-ups moved to the fast path's
reader for that reason). asyncpg's pool hands out its connections directly; its
reset query at every release is left out, as neither changes session state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from postfach.store.batch import BatchResult, BatchRow
from postfach.store.pg_batch import add_batch

__all__ = ["PgLookups"]

POOL_SIZE = 5  # connections per process, besides SQLAlchemy's pool


async def _keep_session(_conn: Any) -> None:
    """Nothing to reset: no setting, no LISTEN. (A transaction a cancelled batch
    left open, asyncpg's pool rolls back before it calls this.)"""


class PgLookups:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def fetch(self, sql: str, args: list[Any]) -> list[Any]:
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def add_batch(self, rows: Sequence[BatchRow]) -> list[BatchResult]:
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            return await add_batch(conn, rows)

    async def _open(self) -> Any:
        import asyncpg

        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=POOL_SIZE, reset=_keep_session
                )
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
