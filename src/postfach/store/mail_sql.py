"""The generic write path of the mail role: SQLAlchemy Core inside one transaction.

Runs on PostgreSQL, and on SQLite wherever the fast path (store/sqlite_fastpath.py)
does not. Every function takes the open transaction `tx`; the caller commits
and then publishes the changes returned. What is accepted, which UIDs are given,
which flags change and what an EXPUNGE removes is decided by store/rules.py,
the rules the fast path calls too.

Writes the `messages`, `blobs` and `expunged` tables, `mailboxes.uidnext` and
`highestmodseq`, and `accounts.used_bytes` (the mail role's tables).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postfach.store.errors import FlagMode, NotFound, OverQuota, StoreError
from postfach.store.events import ChangeAddUid, ChangeExpunge
from postfach.store.records import AccountId, MailboxId, ModSeq, NewMessage, Uid
from postfach.store.rules import (
    MAX_IN,
    Owner,
    admit,
    assign_uids,
    expunges,
    format_flags,
    plan_flags,
    refusal,
    uid_counts,
    uid_lookup,
)
from postfach.store.schema import accounts, blobs, expunged, mailboxes, messages

__all__ = [
    "NewMessage",
    "add",
    "allocate",
    "charge_quota",
    "collect_blobs",
    "delete_rows",
    "expunge_rows",
    "owner",
    "remove_rows",
    "store_flags",
    "uid_filter",
]


def uid_filter(uids: Sequence[Uid]) -> tuple[Any, set[int] | None]:
    """`messages.uid` in `uids`, as rules.uid_lookup says: an IN list or a range."""
    values, wanted = uid_lookup(uids)
    if wanted is None:
        return messages.c.uid.in_(values), None
    return messages.c.uid.between(values[0], values[1]), wanted


async def allocate(tx: Any, mailbox_id: int, count: int) -> tuple[int, int]:
    """Reserves `count` UIDs and one new MODSEQ; returns (first uid, modseq)."""
    row = (
        await tx.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id)
            .values(
                uidnext=mailboxes.c.uidnext + count,
                highestmodseq=mailboxes.c.highestmodseq + 1,
            )
            .returning(mailboxes.c.uidnext, mailboxes.c.highestmodseq)
        )
    ).first()
    if row is None:
        raise NotFound(f"no mailbox #{mailbox_id}")
    return int(row.uidnext) - count, int(row.highestmodseq)


async def owner(tx: Any, mailbox_id: MailboxId) -> AccountId:
    account_id = await tx.scalar(select(mailboxes.c.account_id).where(mailboxes.c.id == mailbox_id))
    if account_id is None:
        raise NotFound(f"no mailbox #{mailbox_id}")
    return AccountId(int(account_id))


async def charge_quota(tx: Any, mailbox_id: int, size: int) -> AccountId:
    row = (
        await tx.execute(
            select(accounts.c.id, accounts.c.quota_bytes, accounts.c.used_bytes)
            .join(mailboxes, mailboxes.c.account_id == accounts.c.id)
            .where(mailboxes.c.id == mailbox_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no mailbox #{mailbox_id}")
    if row.quota_bytes and row.used_bytes + size > row.quota_bytes:
        raise OverQuota("mailbox full")
    await tx.execute(
        update(accounts)
        .where(accounts.c.id == row.id)
        .values(used_bytes=accounts.c.used_bytes + size)
    )
    return AccountId(row.id)


# -- adding --------------------------------------------------------------------
async def add(
    tx: Any, dialect: str, batch: Sequence[NewMessage]
) -> tuple[list[Uid | StoreError], list[tuple[AccountId, ChangeAddUid]]]:
    """A batch in this transaction: per item its UID or why not, and the changes
    to publish once committed. A handful of statements per batch, not per message."""
    owners = await _quota_rows(tx, {item.mailbox_id for item in batch})
    sizes = [(item.mailbox_id, len(item.prefix) + item.blob.size) for item in batch]
    verdicts, charged = admit(sizes, owners)
    accepted = [item for item, verdict in zip(batch, verdicts, strict=True) if verdict is None]
    changes = await _insert(tx, dialect, accepted, owners, charged) if accepted else []
    uids = iter(change.uid for _, change in changes)
    results: list[Uid | StoreError] = [
        next(uids) if verdict is None else refusal(verdict, item.mailbox_id)
        for item, verdict in zip(batch, verdicts, strict=True)
    ]
    return results, changes


async def _quota_rows(tx: Any, mailbox_ids: set[MailboxId]) -> dict[int, Owner]:
    rows = await tx.execute(
        select(mailboxes.c.id, accounts.c.id, accounts.c.quota_bytes, accounts.c.used_bytes)
        .join(accounts, accounts.c.id == mailboxes.c.account_id)
        .where(mailboxes.c.id.in_(sorted(mailbox_ids)))
    )
    return {m: (a, q, u) for m, a, q, u in rows}


async def _insert(
    tx: Any,
    dialect: str,
    accepted: list[NewMessage],
    owners: dict[int, Owner],
    charged: dict[int, int],
) -> list[tuple[AccountId, ChangeAddUid]]:
    first_uid: dict[int, int] = {}
    modseqs: dict[int, int] = {}
    for mailbox_id, count in uid_counts(item.mailbox_id for item in accepted):
        first_uid[mailbox_id], modseqs[mailbox_id] = await allocate(tx, mailbox_id, count)
    unique_blobs = {item.blob.sha256: item.blob for item in accepted}
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await tx.execute(
        dialect_insert(blobs).on_conflict_do_nothing(),
        [blob.row() for blob in unique_blobs.values()],
    )
    now = time.time()
    rows: list[dict[str, object]] = []
    changes: list[tuple[AccountId, ChangeAddUid]] = []
    uids = assign_uids((item.mailbox_id for item in accepted), first_uid)
    for item, uid in zip(accepted, uids, strict=True):
        modseq = modseqs[item.mailbox_id]
        rows.append(
            {
                "mailbox_id": item.mailbox_id,
                "uid": uid,
                "modseq": modseq,
                "flags": format_flags(item.flags),
                "internaldate": now if item.internaldate is None else item.internaldate,
                "size": len(item.prefix) + item.blob.size,
                "blob_sha256": item.blob.sha256,
                "prefix": item.prefix,
                "entered_at": now,
            }
        )
        change = ChangeAddUid(item.mailbox_id, Uid(uid), ModSeq(modseq), item.flags)
        changes.append((AccountId(owners[item.mailbox_id][0]), change))
    await tx.execute(insert(messages), rows)
    await tx.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("b_id"))
        .values(used_bytes=accounts.c.used_bytes + bindparam("b_size")),
        [{"b_id": a, "b_size": size} for a, size in charged.items()],
    )
    return changes


# -- flags -----------------------------------------------------------------------
async def store_flags(
    tx: Any,
    mailbox_id: MailboxId,
    uids: Sequence[Uid],
    mode: FlagMode,
    flags: frozenset[str],
    unchanged_since: ModSeq | None,
) -> tuple[int | None, list[tuple[int, int, frozenset[str]]], list[int]]:
    """(owning account or None, (uid, modseq, flags) changed, UIDs failing UNCHANGEDSINCE)."""
    condition, wanted = uid_filter(uids)
    rows = await tx.execute(
        select(messages.c.id, messages.c.uid, messages.c.modseq, messages.c.flags)
        .where(messages.c.mailbox_id == mailbox_id, condition)
        .order_by(messages.c.uid)
    )
    updates, failed = plan_flags(rows, mode, flags, unchanged_since, wanted)
    planned: list[tuple[int, int, frozenset[str]]] = []
    if updates:
        _, modseq = await allocate(tx, mailbox_id, 0)
        await tx.execute(
            update(messages)
            .where(messages.c.id == bindparam("b_id"))
            .values(flags=bindparam("b_flags"), modseq=modseq),
            [{"b_id": i, "b_flags": format_flags(f)} for i, _, f in updates],
        )
        planned = [(u, modseq, f) for _, u, f in updates]
    account_id = await tx.scalar(select(mailboxes.c.account_id).where(mailboxes.c.id == mailbox_id))
    return account_id, planned, failed


# -- removing --------------------------------------------------------------------
async def delete_rows(
    tx: Any, dialect: str, mailbox_id: MailboxId, uids: Sequence[Uid] | None, only_deleted: bool
) -> tuple[AccountId, ChangeExpunge] | None:
    """EXPUNGE (only_deleted) or a plain delete of `uids` (all when None)."""
    query = select(messages).where(messages.c.mailbox_id == mailbox_id)
    wanted: set[int] | None = None
    if uids is not None:
        condition, wanted = uid_filter(uids)
        query = query.where(condition)
    if only_deleted:
        query = query.where(messages.c.flags.like("%\\Deleted%"))
    rows = [
        r
        for r in (await tx.execute(query.order_by(messages.c.uid))).all()
        if expunges(r.uid, r.flags, wanted, only_deleted)
    ]
    if not rows:
        return None
    change = await expunge_rows(tx, dialect, mailbox_id, rows)
    return await owner(tx, mailbox_id), change


async def expunge_rows(
    tx: Any, dialect: str, mailbox_id: MailboxId, rows: Sequence[Any], *, charge: bool = True
) -> ChangeExpunge:
    """Deletes the given message rows, remembers them for VANISHED, frees quota."""
    _, modseq = await allocate(tx, mailbox_id, 0)
    ids = [r.id for r in rows]
    for start in range(0, len(ids), MAX_IN):
        await tx.execute(delete(messages).where(messages.c.id.in_(ids[start : start + MAX_IN])))
    await tx.execute(
        insert(expunged),
        [{"mailbox_id": mailbox_id, "uid": r.uid, "modseq": modseq} for r in rows],
    )
    if charge:
        freed = sum(r.size for r in rows)
        await tx.execute(
            update(accounts)
            .where(
                accounts.c.id
                == select(mailboxes.c.account_id)
                .where(mailboxes.c.id == mailbox_id)
                .scalar_subquery()
            )
            .values(
                used_bytes=func.max(accounts.c.used_bytes - freed, 0)
                if dialect == "sqlite"
                else func.greatest(accounts.c.used_bytes - freed, 0)
            )
        )
        await collect_blobs(tx, {r.blob_sha256 for r in rows})
    return ChangeExpunge(mailbox_id, tuple(Uid(r.uid) for r in rows), ModSeq(modseq))


async def collect_blobs(tx: Any, shas: set[str] | None = None) -> None:
    """Deletes blobs no message refers to any more."""
    unreferenced = ~exists().where(messages.c.blob_sha256 == blobs.c.sha256)
    if shas is None:
        await tx.execute(delete(blobs).where(unreferenced))
        return
    listed = sorted(shas)
    for start in range(0, len(listed), MAX_IN):
        chunk = listed[start : start + MAX_IN]
        await tx.execute(delete(blobs).where(blobs.c.sha256.in_(chunk), unreferenced))


async def remove_rows(tx: Any, dialect: str, where: list[Any]) -> dict[MailboxId, ChangeExpunge]:
    rows = (await tx.execute(select(messages).where(and_(*where)))).all()
    by_mailbox: dict[MailboxId, list[Any]] = {}
    for row in rows:
        by_mailbox.setdefault(MailboxId(row.mailbox_id), []).append(row)
    return {mid: await expunge_rows(tx, dialect, mid, rs) for mid, rs in by_mailbox.items()}
