"""Delivery's batch insert on PostgreSQL, straight on asyncpg.

The twin of SQLite's fast path (`SqliteFastPath.add`): the same statements in
one transaction, the same rules (store/rules.py), on a connection of the
look-up pool (pg_lookups.py) instead of SQLAlchemy's. Through SQLAlchemy each
of the batch's six statements cost about a millisecond around the driver, more
than PostgreSQL took for it; here the rows of a statement go out together
(asyncpg's executemany) and the whole batch takes a few round trips.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from postfach.store.records import AccountId
from postfach.store.rules import Owner, admit, assign_uids, uid_counts
from postfach.store.sqlite_fastpath import BLOB_COLUMNS, BatchResult, BatchRow

__all__ = ["add_batch"]

_OWNERS = (
    "SELECT mailboxes.id, accounts.id, accounts.quota_bytes, accounts.used_bytes"
    " FROM mailboxes JOIN accounts ON accounts.id = mailboxes.account_id"
    " WHERE mailboxes.id = ANY($1::bigint[])"
)
_ALLOCATE = (
    "UPDATE mailboxes SET uidnext = uidnext + $1, highestmodseq = highestmodseq + 1"
    " WHERE id = $2 RETURNING uidnext, highestmodseq"
)
_INSERT_BLOB = (
    f"INSERT INTO blobs ({', '.join(BLOB_COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(BLOB_COLUMNS) + 1))})"
    " ON CONFLICT DO NOTHING"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (mailbox_id, uid, modseq, flags, internaldate, size, blob_sha256,"
    " prefix, entered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_CHARGE = "UPDATE accounts SET used_bytes = used_bytes + $1 WHERE id = $2"


async def add_batch(conn: Any, rows: Sequence[BatchRow]) -> list[BatchResult]:
    """Adds `rows` in one transaction on the asyncpg connection `conn`; per row
    (account, uid, modseq) or why not ("nomailbox", "quota")."""
    async with conn.transaction():
        mailbox_ids = sorted({r[0] for r in rows})
        owners: dict[int, Owner] = {
            m: (a, q, u) for m, a, q, u in await conn.fetch(_OWNERS, mailbox_ids)
        }
        verdicts, charged = admit(((r[0], len(r[2]) + r[1].size) for r in rows), owners)
        accepted = [row for row, verdict in zip(rows, verdicts, strict=True) if verdict is None]
        placed = iter(await _insert(conn, accepted, owners, charged) if accepted else [])
        return [next(placed) if v is None else v for v in verdicts]


async def _insert(
    conn: Any, accepted: list[BatchRow], owners: dict[int, Owner], charged: dict[int, int]
) -> list[BatchResult]:
    first_uid: dict[int, int] = {}
    modseqs: dict[int, int] = {}
    for mailbox_id, count in uid_counts(row[0] for row in accepted):
        uidnext, modseq = await conn.fetchrow(_ALLOCATE, count, mailbox_id)
        first_uid[mailbox_id], modseqs[mailbox_id] = uidnext - count, modseq
    blobs = {row[1].sha256: row[1] for row in accepted}
    await conn.executemany(
        _INSERT_BLOB, [tuple(b.row()[c] for c in BLOB_COLUMNS) for b in blobs.values()]
    )
    now = time.time()
    message_rows = []
    results: list[BatchResult] = []
    for row, uid in zip(accepted, assign_uids((r[0] for r in accepted), first_uid), strict=True):
        mailbox_id, blob, prefix, flags, internaldate = row
        modseq = modseqs[mailbox_id]
        date = now if internaldate is None else internaldate
        size = len(prefix) + blob.size
        message_rows.append((mailbox_id, uid, modseq, flags, date, size, blob.sha256, prefix, now))
        results.append((AccountId(owners[mailbox_id][0]), uid, modseq))
    await conn.executemany(_INSERT_MESSAGE, message_rows)
    await conn.executemany(_CHARGE, [(size, account) for account, size in charged.items()])
    return results
