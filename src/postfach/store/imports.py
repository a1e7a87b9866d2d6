"""The imports role (`store.imports`): what an import already copied from where.

Owns the `import_seen` table: one row per message an import copied into an
account, keyed by the source (e.g. `imap://user@host:993`), the source's
folder, its UIDVALIDITY and the message's UID there. A second run of the same
import reads it and copies only what is missing (postfach/moving/).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postfach.store.base import Role
from postfach.store.records import AccountId
from postfach.store.schema import import_seen

__all__ = ["ImportsStore"]


class ImportsStore(Role):
    """Source UIDs already copied; see `ImportsApi` (store/api.py)."""

    async def seen(
        self, account_id: AccountId, source: str, folder: str, uidvalidity: int
    ) -> set[int]:
        c = import_seen.c
        async with self.read() as conn:
            rows = await conn.execute(
                select(c.uid).where(
                    c.account_id == account_id,
                    c.source == source,
                    c.folder == folder,
                    c.uidvalidity == uidvalidity,
                )
            )
            return {int(uid) for (uid,) in rows}

    async def remember(
        self,
        account_id: AccountId,
        source: str,
        folder: str,
        uidvalidity: int,
        uids: Sequence[int],
    ) -> None:
        if not uids:
            return
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        rows = [
            {
                "account_id": account_id,
                "source": source,
                "folder": folder,
                "uidvalidity": uidvalidity,
                "uid": uid,
            }
            for uid in uids
        ]
        async with self.write() as tx:
            await tx.execute(dialect_insert(import_seen).on_conflict_do_nothing(), rows)

    async def forget(self, account_id: AccountId, source: str) -> int:
        async with self.write() as tx:
            result = await tx.execute(
                delete(import_seen).where(
                    import_seen.c.account_id == account_id, import_seen.c.source == source
                )
            )
            return int(result.rowcount or 0)
