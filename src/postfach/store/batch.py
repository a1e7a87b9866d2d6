"""A delivery batch as both direct write paths insert it, SQLite's fast path
(sqlite_fastpath.py) and PostgreSQL's (pg_batch.py): its rows, what each row
gets, and the steps between their statements, which are the same on both. Only
the statements and how they reach the database differ.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from postfach.store.blobs import PreparedBlob
from postfach.store.records import AccountId, MailboxId
from postfach.store.rules import Owner, admit, assign_uids

__all__ = [
    "BLOB_COLUMNS",
    "MESSAGE_COLUMNS",
    "BatchResult",
    "BatchRow",
    "admitted",
    "blob_rows",
    "in_order",
    "message_rows",
]

# (mailbox_id, blob, prefix, flags text, internaldate or None)
BatchRow = tuple[MailboxId, PreparedBlob, bytes, str, float | None]
# Per row: (account_id, uid, modseq) or an error word: "nomailbox", "quota".
BatchResult = tuple[AccountId, int, int] | str

BLOB_COLUMNS = (
    "sha256",
    "size",
    "data",
    "parsed",
    "s_from",
    "s_to",
    "s_cc",
    "s_bcc",
    "s_subject",
    "s_body",
    "s_head",
)
# The messages table's columns, in the order of `message_rows`.
MESSAGE_COLUMNS = (
    "mailbox_id",
    "uid",
    "modseq",
    "flags",
    "internaldate",
    "size",
    "blob_sha256",
    "prefix",
    "entered_at",
)


def admitted(
    rows: Sequence[BatchRow], owners: Mapping[int, Owner]
) -> tuple[list[str | None], dict[int, int], list[BatchRow]]:
    """`rules.admit` on a batch: per row None or why not, the bytes charged to
    each account, and the rows accepted."""
    verdicts, charged = admit(((r[0], len(r[2]) + r[1].size) for r in rows), owners)
    accepted = [row for row, verdict in zip(rows, verdicts, strict=True) if verdict is None]
    return verdicts, charged, accepted


def blob_rows(accepted: Sequence[BatchRow]) -> list[tuple[object, ...]]:
    """The blobs table's rows (`BLOB_COLUMNS`), each content once."""
    blobs = {row[1].sha256: row[1] for row in accepted}
    return [tuple(b.row()[c] for c in BLOB_COLUMNS) for b in blobs.values()]


def message_rows(
    accepted: Sequence[BatchRow],
    first_uid: Mapping[int, int],
    modseqs: Mapping[int, int],
    owners: Mapping[int, Owner],
) -> tuple[list[tuple[object, ...]], list[BatchResult]]:
    """The messages table's rows (`MESSAGE_COLUMNS`) with the UIDs from
    `first_uid` on and each mailbox's new MODSEQ, and what each row got."""
    now = time.time()
    rows: list[tuple[object, ...]] = []
    results: list[BatchResult] = []
    uids = assign_uids((row[0] for row in accepted), first_uid)
    for (mailbox_id, blob, prefix, flags, internaldate), uid in zip(accepted, uids, strict=True):
        modseq = modseqs[mailbox_id]
        date = now if internaldate is None else internaldate
        size = len(prefix) + blob.size
        rows.append((mailbox_id, uid, modseq, flags, date, size, blob.sha256, prefix, now))
        results.append((AccountId(owners[mailbox_id][0]), uid, modseq))
    return rows, results


def in_order(verdicts: Sequence[str | None], placed: Sequence[BatchResult]) -> list[BatchResult]:
    """Per row of the batch: what the accepted ones got (`placed`, in order), or
    why the others were refused."""
    taken = iter(placed)
    return [next(taken) if verdict is None else verdict for verdict in verdicts]
