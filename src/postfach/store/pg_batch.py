"""Delivery's batch insert on PostgreSQL, straight on asyncpg.

The twin of SQLite's fast path (`SqliteFastPath.add`): the same statements in
one transaction, the same rules (store/rules.py) and steps (store/batch.py), on
a connection of the look-up pool (pg_lookups.py) instead of SQLAlchemy's.
Through SQLAlchemy each of the batch's six statements cost about a millisecond
around the driver, more than PostgreSQL took for it; here the rows of a
statement go out together (asyncpg's executemany) and the whole batch takes a
few round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from postfach.store.batch import (
    BLOB_COLUMNS,
    MESSAGE_COLUMNS,
    BatchResult,
    BatchRow,
    admitted,
    blob_rows,
    in_order,
    message_rows,
)
from postfach.store.rules import Owner, uid_counts

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


def _values(columns: Sequence[str]) -> str:
    return ", ".join(f"${n}" for n in range(1, len(columns) + 1))


_INSERT_BLOB = (
    f"INSERT INTO blobs ({', '.join(BLOB_COLUMNS)}) VALUES ({_values(BLOB_COLUMNS)})"
    " ON CONFLICT DO NOTHING"
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({_values(MESSAGE_COLUMNS)})"
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
        verdicts, charged, accepted = admitted(rows, owners)
        placed = await _insert(conn, accepted, owners, charged) if accepted else []
        return in_order(verdicts, placed)


async def _insert(
    conn: Any, accepted: list[BatchRow], owners: dict[int, Owner], charged: dict[int, int]
) -> list[BatchResult]:
    first_uid: dict[int, int] = {}
    modseqs: dict[int, int] = {}
    for mailbox_id, count in uid_counts(row[0] for row in accepted):
        uidnext, modseq = await conn.fetchrow(_ALLOCATE, count, mailbox_id)
        first_uid[mailbox_id], modseqs[mailbox_id] = uidnext - count, modseq
    await conn.executemany(_INSERT_BLOB, blob_rows(accepted))
    rows, results = message_rows(accepted, first_uid, modseqs, owners)
    await conn.executemany(_INSERT_MESSAGE, rows)
    await conn.executemany(_CHARGE, [(size, account) for account, size in charged.items()])
    return results
