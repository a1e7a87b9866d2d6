"""The imports role (`store.imports`): what an import already copied from where.

Owns two tables. `import_seen`: one row per message an import copied into an
account, keyed by the source (e.g. `imap://user@host:993`), the source's
folder, its UIDVALIDITY and the message's UID there; a second run of the same
import reads it and copies only what is missing (postfach/moving/).
`import_jobs`: IMAP imports started from the web settings page, which the
server runs in the background, with their progress.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postfach.store.base import Role, inserted_id
from postfach.store.records import AccountId, ImportJob
from postfach.store.schema import import_jobs, import_seen

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

    # -- background jobs (the web settings page) -----------------------------
    async def add_job(
        self,
        account_id: AccountId,
        host: str,
        port: int,
        security: str,
        login: str,
        password_enc: str,
    ) -> int:
        now = time.time()
        async with self.write() as tx:
            result = await tx.execute(
                insert(import_jobs).values(
                    account_id=account_id, host=host, port=port, security=security,
                    login=login, password_enc=password_enc, state="queued",
                    created=now, updated=now,
                )
            )  # fmt: skip
            return inserted_id(result)

    async def jobs(self, account_id: AccountId) -> list[ImportJob]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(import_jobs)
                .where(import_jobs.c.account_id == account_id)
                .order_by(import_jobs.c.id.desc())
            )
            return [_job(row) for row in rows]

    async def next_job(self) -> ImportJob | None:
        """The oldest queued job, now marked running."""
        async with self.write() as tx:
            query = (
                select(import_jobs)
                .where(import_jobs.c.state == "queued")
                .order_by(import_jobs.c.id)
                .limit(1)
            )
            if self.dialect == "postgresql":  # nodes sharing the database take different jobs
                query = query.with_for_update(skip_locked=True)
            row = (await tx.execute(query)).first()
            if row is None:
                return None
            await tx.execute(
                update(import_jobs)
                .where(import_jobs.c.id == row.id)
                .values(state="running", updated=time.time())
            )
        job = _job(row)
        return ImportJob(**{**_fields(job), "state": "running"})

    async def update_job(self, job_id: int, **values: Any) -> None:
        """state, messages_total, messages_done, octets_done, error, password_enc."""
        async with self.write() as tx:
            await tx.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id)
                .values(**values, updated=time.time())
            )

    async def requeue_running(self) -> int:
        """Jobs a stopped server left running go back in line (they resume)."""
        async with self.write() as tx:
            result = await tx.execute(
                update(import_jobs)
                .where(import_jobs.c.state == "running")
                .values(state="queued", updated=time.time())
            )
            return int(result.rowcount or 0)


def _job(row: Any) -> ImportJob:
    return ImportJob(
        id=int(row.id), account_id=AccountId(int(row.account_id)), host=row.host,
        port=int(row.port), security=row.security, login=row.login,
        password_enc=row.password_enc, state=row.state,
        messages_total=int(row.messages_total), messages_done=int(row.messages_done),
        octets_done=int(row.octets_done), error=row.error, created=float(row.created),
        updated=float(row.updated),
    )  # fmt: skip


def _fields(job: ImportJob) -> dict[str, Any]:
    return {name: getattr(job, name) for name in job.__slots__}
