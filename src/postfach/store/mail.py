"""Mailboxes and messages: UIDs, MODSEQs, flags, copy/move/expunge, search, retention.

Every mutation commits first and then publishes `Change` values on the hub,
so that a session never hears of a change that could still roll back.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from postfach.store.accounts import AccountsMixin
from postfach.store.api import AlreadyExists, FlagMode, NotFound, OverQuota, StoreError
from postfach.store.blobs import PreparedBlob, prepare_blob_off_loop
from postfach.store.events import Change, ChangeAddUid, ChangeExpunge, ChangeFlags, ChangeMailboxes
from postfach.store.flags import format_flags, parse_flags, plan_flags
from postfach.store.records import (
    AccountId,
    Mailbox,
    MailboxId,
    MailboxIndex,
    MailboxStatus,
    MessageMeta,
    ModSeq,
    SpecialUse,
    StoredMessage,
    Uid,
)
from postfach.store.schema import (
    accounts,
    blobs,
    expunged,
    mailboxes,
    messages,
    subscriptions,
)
from postfach.store.sqlite_writer import SqliteBatchWriter

__all__ = ["MailMixin", "NewMessage", "format_flags", "parse_flags"]

# SEARCH field → blob column (case-folded at delivery).
_SEARCH_COLUMNS = {
    "from": ("s_from",),
    "to": ("s_to",),
    "cc": ("s_cc",),
    "bcc": ("s_bcc",),
    "subject": ("s_subject",),
    "body": ("s_body",),
    "text": ("s_from", "s_to", "s_cc", "s_subject", "s_body"),
}
# IN lists longer than this become a range scan filtered in Python.
_MAX_IN = 500


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to add in a batch (delivery's group commit, APPEND, save to Sent)."""

    mailbox_id: MailboxId
    blob: PreparedBlob
    prefix: bytes = b""
    flags: frozenset[str] = frozenset()
    internaldate: float | None = None


def _mailbox(row: Any) -> Mailbox:
    special = row.special_use
    return Mailbox(
        id=MailboxId(row.id),
        account_id=AccountId(row.account_id),
        name=row.name,
        special_use=SpecialUse(special) if special else None,
        uidvalidity=row.uidvalidity,
        uidnext=Uid(row.uidnext),
        highestmodseq=ModSeq(row.highestmodseq),
    )


def _like(needle: str) -> str:
    escaped = needle.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _stored(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        mailbox_id=MailboxId(row.mailbox_id),
        uid=Uid(row.uid),
        modseq=ModSeq(row.modseq),
        flags=parse_flags(row.flags),
        internaldate=row.internaldate,
        size=row.size,
        blob_sha256=row.blob_sha256,
        prefix=bytes(row.prefix),
        parsed=row.parsed,
        entered_at=row.entered_at,
    )


_STORED_COLUMNS = (
    messages.c.id,
    messages.c.mailbox_id,
    messages.c.uid,
    messages.c.modseq,
    messages.c.flags,
    messages.c.internaldate,
    messages.c.size,
    messages.c.blob_sha256,
    messages.c.prefix,
    messages.c.entered_at,
    blobs.c.parsed,
)
# A message row with its blob's parse: what StoredMessage is made of (`_stored`).
_STORED_SELECT = select(*_STORED_COLUMNS).join(
    blobs, blobs.c.sha256 == messages.c.blob_sha256
)


# Hot look-ups, compiled once and run straight on the driver (StoreBase.fetch).
_MAILBOX_BY_NAME = select(mailboxes).where(
    mailboxes.c.account_id == bindparam("account_id"), mailboxes.c.name == bindparam("name")
)
_MAILBOX_BY_ID = select(mailboxes).where(mailboxes.c.id == bindparam("id"))
_BLOB_DATA = select(blobs.c.data).where(blobs.c.sha256 == bindparam("sha256"))
_PREPARED_UIDS = 32


@functools.cache
def _messages_by_uids(count: int) -> Select[Any]:
    """get_messages for `count` UIDs (bound as u0, u1, ...), built once per count."""
    return (
        _STORED_SELECT
        .where(
            messages.c.mailbox_id == bindparam("mailbox_id"),
            messages.c.uid.in_([bindparam(f"u{i}") for i in range(count)]),
        )
        .order_by(messages.c.uid)
    )


# SEARCH FROM/SUBJECT/BODY/TEXT/...: one prepared statement per kind of key.
_SEARCH_TEXT = {
    where: select(messages.c.uid)
    .join(blobs, blobs.c.sha256 == messages.c.blob_sha256)
    .where(
        messages.c.mailbox_id == bindparam("mailbox_id"),
        or_(*(blobs.c[c].like(bindparam("pattern"), escape="\\") for c in columns)),
    )
    for where, columns in _SEARCH_COLUMNS.items()
}


class MailMixin(AccountsMixin):
    # -- mailboxes -----------------------------------------------------------
    async def list_mailboxes(self, account_id: AccountId) -> list[Mailbox]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(mailboxes)
                    .where(mailboxes.c.account_id == account_id)
                    .order_by(mailboxes.c.name)
                )
            ).all()
        return [_mailbox(r) for r in rows]

    async def get_mailbox(self, account_id: AccountId, name: str) -> Mailbox | None:
        if name.upper() == "INBOX":
            name = "INBOX"
        rows = await self.fetch(_MAILBOX_BY_NAME, account_id=account_id, name=name)
        return _mailbox(rows[0]) if rows else None

    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> Mailbox | None:
        rows = await self.fetch(_MAILBOX_BY_ID, id=mailbox_id)
        return _mailbox(rows[0]) if rows else None

    async def special_mailbox(self, account_id: AccountId, special_use: str) -> Mailbox | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(mailboxes)
                    .where(
                        mailboxes.c.account_id == account_id,
                        mailboxes.c.special_use == special_use,
                    )
                    .order_by(mailboxes.c.id)
                )
            ).first()
        return _mailbox(row) if row else None

    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> Mailbox:
        if name.upper() == "INBOX":
            raise AlreadyExists("INBOX exists already")
        try:
            async with self.write() as tx:
                mailbox_id = await self._insert_mailbox(tx, account_id, name, special_use)
        except IntegrityError:
            raise AlreadyExists(f"mailbox {name} exists already") from None
        self.hub.publish(account_id, [ChangeMailboxes()])
        mailbox = await self.get_mailbox_by_id(MailboxId(mailbox_id))
        assert mailbox is not None
        return mailbox

    async def delete_mailbox(self, account_id: AccountId, name: str) -> None:
        if name.upper() == "INBOX":
            raise StoreError("INBOX cannot be deleted")
        async with self.write() as tx:
            mailbox_id = await tx.scalar(
                select(mailboxes.c.id).where(
                    mailboxes.c.account_id == account_id, mailboxes.c.name == name
                )
            )
            if mailbox_id is None:
                raise NotFound(f"no mailbox {name}")
            await self._remove_rows(tx, account_id, [messages.c.mailbox_id == mailbox_id])
            await tx.execute(delete(expunged).where(expunged.c.mailbox_id == mailbox_id))
            await tx.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))
        self.hub.publish(account_id, [ChangeMailboxes()])

    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> None:
        if new.upper() == "INBOX":
            raise AlreadyExists("INBOX exists already")
        if old.upper() == "INBOX":
            await self._rename_inbox(account_id, new)
            return
        try:
            async with self.write() as tx:
                rows = (
                    await tx.execute(
                        select(mailboxes.c.id, mailboxes.c.name).where(
                            mailboxes.c.account_id == account_id,
                            or_(mailboxes.c.name == old, mailboxes.c.name.startswith(old + "/")),
                        )
                    )
                ).all()
                if not any(r.name == old for r in rows):
                    raise NotFound(f"no mailbox {old}")
                for row in rows:
                    # A renamed folder is a new folder to clients: new UIDVALIDITY.
                    await tx.execute(
                        update(mailboxes)
                        .where(mailboxes.c.id == row.id)
                        .values(
                            name=new + row.name[len(old) :],
                            uidvalidity=await self._next_uidvalidity(tx),
                        )
                    )
        except IntegrityError:
            raise AlreadyExists(f"mailbox {new} exists already") from None
        self.hub.publish(account_id, [ChangeMailboxes()])

    async def _rename_inbox(self, account_id: AccountId, new: str) -> None:
        """RFC 3501 §6.3.5: INBOX's messages move to the new folder; INBOX stays, empty."""
        inbox = await self.get_mailbox(account_id, "INBOX")
        assert inbox is not None
        target = await self.create_mailbox(account_id, new)
        uids = [m.uid for m in await self.message_index(inbox.id)]
        if uids:
            await self.move_messages(inbox.id, uids, target.id)

    async def subscriptions(self, account_id: AccountId) -> set[str]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(subscriptions.c.name).where(subscriptions.c.account_id == account_id)
            )
            return set(rows.scalars())

    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None:
        if name.upper() == "INBOX":
            name = "INBOX"
        async with self.write() as tx:
            await tx.execute(
                delete(subscriptions).where(
                    subscriptions.c.account_id == account_id, subscriptions.c.name == name
                )
            )
            if subscribed:
                await tx.execute(insert(subscriptions).values(account_id=account_id, name=name))

    async def mailbox_status(self, mailbox_id: MailboxId) -> MailboxStatus:
        mailbox = await self.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise NotFound(f"no mailbox #{mailbox_id}")
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        messages.c.flags, func.count(), func.coalesce(func.sum(messages.c.size), 0)
                    )
                    .where(messages.c.mailbox_id == mailbox_id)
                    .group_by(messages.c.flags)
                )
            ).all()
        total = unseen = deleted = size = 0
        for flags_text, count, octets in rows:
            flags = parse_flags(flags_text)
            total += count
            size += int(octets)
            if "\\Seen" not in flags:
                unseen += count
            if "\\Deleted" in flags:
                deleted += count
        return MailboxStatus(mailbox, total, unseen, size, deleted)

    # -- adding messages -----------------------------------------------------
    async def append(
        self,
        mailbox_id: MailboxId,
        raw: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: float | None = None,
    ) -> tuple[Uid, int]:
        blob = await prepare_blob_off_loop(raw)
        [result] = await self.add_messages([NewMessage(mailbox_id, blob, b"", flags, internaldate)])
        if isinstance(result, StoreError):
            raise result
        mailbox = await self.get_mailbox_by_id(mailbox_id)
        assert mailbox is not None
        return result, mailbox.uidvalidity

    async def add_messages(self, batch: Sequence[NewMessage]) -> list[Uid | StoreError]:
        """Adds a batch in one transaction (one fsync); each item succeeds or fails alone.

        The hot path of delivery: a handful of statements per batch, not per
        message (quota rows, one UID range per mailbox, executemany inserts).
        """
        if self._batch_writer is not None and self._write_lock is not None:
            return await self._add_messages_sqlite(batch, self._batch_writer, self._write_lock)
        results: list[Uid | StoreError] = []
        changes: list[tuple[AccountId, ChangeAddUid]] = []
        async with self.write() as tx:
            owners = await self._quota_rows(tx, {item.mailbox_id for item in batch})
            accepted: list[NewMessage] = []
            charged: dict[AccountId, int] = {}
            for item in batch:
                owner = owners.get(item.mailbox_id)
                size = len(item.prefix) + item.blob.size
                if owner is None:
                    results.append(NotFound(f"no mailbox #{item.mailbox_id}"))
                    continue
                account_id, quota, used = owner
                if quota and used + charged.get(account_id, 0) + size > quota:
                    results.append(OverQuota("mailbox full"))
                    continue
                charged[account_id] = charged.get(account_id, 0) + size
                accepted.append(item)
                results.append(Uid(0))  # filled in below
            if accepted:
                changes = await self._insert_accepted(tx, accepted, owners, charged)
        uids = iter(change.uid for _, change in changes)
        results = [next(uids) if isinstance(r, int) else r for r in results]
        for account_id, change in changes:
            self.hub.publish(account_id, [change])
        return results

    async def _add_messages_sqlite(
        self, batch: Sequence[NewMessage], writer: SqliteBatchWriter, lock: asyncio.Lock
    ) -> list[Uid | StoreError]:
        rows = [
            (m.mailbox_id, m.blob, m.prefix, format_flags(m.flags), m.internaldate) for m in batch
        ]
        async with lock:
            outcome = await writer.add(rows)
        results: list[Uid | StoreError] = []
        for item, placed in zip(batch, outcome, strict=True):
            if placed == "quota":
                results.append(OverQuota("mailbox full"))
            elif isinstance(placed, str):
                results.append(NotFound(f"no mailbox #{item.mailbox_id}"))
            else:
                account_id, uid, modseq = placed
                results.append(Uid(uid))
                change = ChangeAddUid(item.mailbox_id, Uid(uid), ModSeq(modseq), item.flags)
                self.hub.publish(account_id, [change])
        return results

    async def _quota_rows(
        self, tx: Any, mailbox_ids: set[MailboxId]
    ) -> dict[MailboxId, tuple[AccountId, int, int]]:
        rows = await tx.execute(
            select(mailboxes.c.id, accounts.c.id, accounts.c.quota_bytes, accounts.c.used_bytes)
            .join(accounts, accounts.c.id == mailboxes.c.account_id)
            .where(mailboxes.c.id.in_(sorted(mailbox_ids)))
        )
        return {MailboxId(m): (AccountId(a), q, u) for m, a, q, u in rows}

    async def _insert_accepted(
        self,
        tx: Any,
        accepted: list[NewMessage],
        owners: dict[MailboxId, tuple[AccountId, int, int]],
        charged: dict[AccountId, int],
    ) -> list[tuple[AccountId, ChangeAddUid]]:
        counts: dict[MailboxId, int] = {}
        for item in accepted:
            counts[item.mailbox_id] = counts.get(item.mailbox_id, 0) + 1
        next_uid: dict[MailboxId, int] = {}
        modseqs: dict[MailboxId, int] = {}
        for mailbox_id, count in sorted(counts.items()):
            next_uid[mailbox_id], modseqs[mailbox_id] = await self._allocate(tx, mailbox_id, count)
        unique_blobs = {item.blob.sha256: item.blob for item in accepted}
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        await tx.execute(
            dialect_insert(blobs).on_conflict_do_nothing(),
            [blob.row() for blob in unique_blobs.values()],
        )
        now = time.time()
        rows: list[dict[str, object]] = []
        changes: list[tuple[AccountId, ChangeAddUid]] = []
        for item in accepted:
            uid = next_uid[item.mailbox_id]
            next_uid[item.mailbox_id] = uid + 1
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
            changes.append((owners[item.mailbox_id][0], change))
        await tx.execute(insert(messages), rows)
        await tx.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("b_id"))
            .values(used_bytes=accounts.c.used_bytes + bindparam("b_size")),
            [{"b_id": a, "b_size": size} for a, size in charged.items()],
        )
        return changes

    async def _charge_quota(self, tx: Any, mailbox_id: int, size: int) -> AccountId:
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

    async def _allocate(self, tx: Any, mailbox_id: int, count: int) -> tuple[int, int]:
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

    # -- reading -------------------------------------------------------------
    async def message_index(self, mailbox_id: MailboxId) -> list[MessageMeta]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(messages.c.uid, messages.c.modseq, messages.c.flags)
                .where(messages.c.mailbox_id == mailbox_id)
                .order_by(messages.c.uid)
            )
            return [MessageMeta(Uid(u), ModSeq(m), parse_flags(f)) for u, m, f in rows]

    async def mailbox_index(self, mailbox_id: MailboxId) -> MailboxIndex:
        """`message_index` as columns, straight from the driver: a 100,000-message
        SELECT must not build 100,000 objects."""
        sql = "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = {} ORDER BY uid"
        async with self.read() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if self.dialect == "sqlite":
                rows = await driver.execute_fetchall(sql.format("?"), (mailbox_id,))
            else:
                rows = await driver.fetch(sql.format("$1"), mailbox_id)
        shared: dict[str, frozenset[str]] = {}
        flags = [shared.get(r[2]) or shared.setdefault(r[2], parse_flags(r[2])) for r in rows]
        return MailboxIndex([r[0] for r in rows], [r[1] for r in rows], flags)

    async def changed_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[MessageMeta]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(messages.c.uid, messages.c.modseq, messages.c.flags)
                .where(messages.c.mailbox_id == mailbox_id, messages.c.modseq > modseq)
                .order_by(messages.c.uid)
            )
            return [MessageMeta(Uid(u), ModSeq(m), parse_flags(f)) for u, m, f in rows]

    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[Uid]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(expunged.c.uid)
                .where(expunged.c.mailbox_id == mailbox_id, expunged.c.modseq > modseq)
                .order_by(expunged.c.uid)
            )
            return [Uid(u) for u in rows.scalars()]

    def _uid_filter(self, uids: Sequence[Uid]) -> tuple[Any, set[int] | None]:
        if len(uids) <= _MAX_IN:
            return messages.c.uid.in_(list(uids)), None
        wanted = set(uids)
        return messages.c.uid.between(min(wanted), max(wanted)), set(wanted)

    async def get_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[StoredMessage]:
        if not uids:
            return []
        if len(uids) <= _PREPARED_UIDS:
            # FETCH of a few messages, what mail programs do most: the raw driver.
            values = {f"u{i}": int(u) for i, u in enumerate(uids)}
            found = await self.fetch(_messages_by_uids(len(uids)), mailbox_id=mailbox_id, **values)
            return [_stored(r) for r in found]
        condition, wanted = self._uid_filter(uids)
        async with self.read() as conn:
            rows = await conn.execute(
                _STORED_SELECT
                .where(messages.c.mailbox_id == mailbox_id, condition)
                .order_by(messages.c.uid)
            )
            return [_stored(r) for r in rows if wanted is None or r.uid in wanted]

    async def message_listing(self, mailbox_id: MailboxId) -> list[StoredMessage]:
        """Every message in UID order, without the parsed structure (POP3 needs none)."""
        columns = [c for c in _STORED_COLUMNS if c is not blobs.c.parsed]
        async with self.read() as conn:
            rows = await conn.execute(
                select(*columns, literal("").label("parsed"))
                .where(messages.c.mailbox_id == mailbox_id)
                .order_by(messages.c.uid)
            )
            return [_stored(r) for r in rows]

    async def read_raws(self, batch: Sequence[StoredMessage]) -> dict[int, bytes]:
        """{message id: prefix + blob} in one query per 500 blobs; gone blobs are left out."""
        data = await self.read_blobs([m.blob_sha256 for m in batch])
        return {m.id: m.prefix + data[m.blob_sha256] for m in batch if m.blob_sha256 in data}

    async def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """{sha256: blob} in one query per 500 blobs; gone blobs are left out."""
        wanted = sorted(set(shas))
        data: dict[str, bytes] = {}
        async with self.read() as conn:
            for start in range(0, len(wanted), _MAX_IN):
                rows = await conn.execute(
                    select(blobs.c.sha256, blobs.c.data).where(
                        blobs.c.sha256.in_(wanted[start : start + _MAX_IN])
                    )
                )
                data.update((sha, bytes(raw)) for sha, raw in rows)
        return data

    async def read_blob(self, blob_sha256: str) -> bytes:
        rows = await self.fetch(_BLOB_DATA, sha256=blob_sha256)
        if not rows:
            raise NotFound(f"no blob {blob_sha256}")
        return bytes(rows[0].data)

    async def read_raw(self, message: StoredMessage) -> bytes:
        return message.prefix + await self.read_blob(message.blob_sha256)

    # -- changing ------------------------------------------------------------
    async def store_flags(
        self,
        mailbox_id: MailboxId,
        uids: Sequence[Uid],
        mode: FlagMode,
        flags: frozenset[str],
        unchanged_since: ModSeq | None = None,
    ) -> tuple[list[MessageMeta], list[Uid]]:
        if not uids:
            return [], []
        if self._batch_writer is not None and self._write_lock is not None:
            async with self._write_lock:
                owner, planned, failed = await self._batch_writer.store_flags(
                    mailbox_id, list(uids), mode, flags, unchanged_since, _MAX_IN
                )
        else:
            owner, planned, failed = await self._store_flags_sa(
                mailbox_id, uids, mode, flags, unchanged_since
            )
        if owner is None:
            raise NotFound(f"no mailbox #{mailbox_id}")
        changed = [MessageMeta(Uid(u), ModSeq(m), f) for u, m, f in planned]
        if changed:
            self.hub.publish(
                AccountId(owner),
                [ChangeFlags(mailbox_id, m.uid, m.modseq, m.flags) for m in changed],
            )
        return changed, [Uid(u) for u in failed]

    async def _store_flags_sa(
        self,
        mailbox_id: MailboxId,
        uids: Sequence[Uid],
        mode: FlagMode,
        flags: frozenset[str],
        unchanged_since: ModSeq | None,
    ) -> tuple[int | None, list[tuple[int, int, frozenset[str]]], list[int]]:
        condition, wanted = self._uid_filter(uids)
        async with self.write() as tx:
            rows = await tx.execute(
                select(messages.c.id, messages.c.uid, messages.c.modseq, messages.c.flags)
                .where(messages.c.mailbox_id == mailbox_id, condition)
                .order_by(messages.c.uid)
            )
            updates, failed = plan_flags(rows.tuples(), mode, flags, unchanged_since, wanted)
            planned: list[tuple[int, int, frozenset[str]]] = []
            if updates:
                _, modseq = await self._allocate(tx, mailbox_id, 0)
                await tx.execute(
                    update(messages)
                    .where(messages.c.id == bindparam("b_id"))
                    .values(flags=bindparam("b_flags"), modseq=modseq),
                    [{"b_id": i, "b_flags": format_flags(f)} for i, _, f in updates],
                )
                planned = [(u, modseq, f) for _, u, f in updates]
            owner = await tx.scalar(
                select(mailboxes.c.account_id).where(mailboxes.c.id == mailbox_id)
            )
        return owner, planned, failed

    async def copy_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]:
        return await self._copy(src, uids, dst, remove=False)

    async def move_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]:
        return await self._copy(src, uids, dst, remove=True)

    async def _copy(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId, *, remove: bool
    ) -> list[tuple[Uid, Uid]]:
        if not uids:
            return []
        condition, wanted = self._uid_filter(uids)
        pairs: list[tuple[Uid, Uid]] = []
        changes: list[Change] = []
        async with self.write() as tx:
            rows = [
                r
                for r in (
                    await tx.execute(
                        select(messages)
                        .where(messages.c.mailbox_id == src, condition)
                        .order_by(messages.c.uid)
                    )
                ).all()
                if wanted is None or r.uid in wanted
            ]
            if not rows:
                return []
            account_id = await self._owner(tx, dst)
            if not remove:
                await self._charge_quota(tx, dst, sum(r.size for r in rows))
            first_uid, modseq = await self._allocate(tx, dst, len(rows))
            now = time.time()
            new_rows = []
            for offset, row in enumerate(rows):
                new_uid = Uid(first_uid + offset)
                pairs.append((Uid(row.uid), new_uid))
                new_rows.append(
                    {
                        "mailbox_id": dst,
                        "uid": new_uid,
                        "modseq": modseq,
                        "flags": row.flags,
                        "internaldate": row.internaldate,
                        "size": row.size,
                        "blob_sha256": row.blob_sha256,
                        "prefix": row.prefix,
                        "entered_at": now,
                    }
                )
                changes.append(ChangeAddUid(dst, new_uid, ModSeq(modseq), parse_flags(row.flags)))
            await tx.execute(insert(messages), new_rows)
            if remove:
                gone = await self._expunge_rows(tx, src, rows, charge=False)
                changes.append(gone)
        self.hub.publish(account_id, changes)
        return pairs

    async def _owner(self, tx: Any, mailbox_id: MailboxId) -> AccountId:
        account_id = await tx.scalar(
            select(mailboxes.c.account_id).where(mailboxes.c.id == mailbox_id)
        )
        if account_id is None:
            raise NotFound(f"no mailbox #{mailbox_id}")
        return AccountId(int(account_id))

    async def _expunge_rows(
        self, tx: Any, mailbox_id: MailboxId, rows: Sequence[Any], *, charge: bool = True
    ) -> ChangeExpunge:
        """Deletes the given message rows, remembers them for VANISHED, frees quota."""
        _, modseq = await self._allocate(tx, mailbox_id, 0)
        ids = [r.id for r in rows]
        for start in range(0, len(ids), _MAX_IN):
            await tx.execute(
                delete(messages).where(messages.c.id.in_(ids[start : start + _MAX_IN]))
            )
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
                    if self.dialect == "sqlite"
                    else func.greatest(accounts.c.used_bytes - freed, 0)
                )
            )
            await self._collect_blobs(tx, {r.blob_sha256 for r in rows})
        return ChangeExpunge(mailbox_id, tuple(Uid(r.uid) for r in rows), ModSeq(modseq))

    async def _collect_blobs(self, tx: Any, shas: set[str] | None = None) -> None:
        """Deletes blobs no message refers to any more."""
        unreferenced = ~exists().where(messages.c.blob_sha256 == blobs.c.sha256)
        if shas is None:
            await tx.execute(delete(blobs).where(unreferenced))
            return
        listed = sorted(shas)
        for start in range(0, len(listed), _MAX_IN):
            chunk = listed[start : start + _MAX_IN]
            await tx.execute(delete(blobs).where(blobs.c.sha256.in_(chunk), unreferenced))

    async def _remove_rows(
        self, tx: Any, account_id: AccountId, where: list[Any]
    ) -> dict[MailboxId, ChangeExpunge]:
        rows = (await tx.execute(select(messages).where(and_(*where)))).all()
        by_mailbox: dict[MailboxId, list[Any]] = {}
        for row in rows:
            by_mailbox.setdefault(MailboxId(row.mailbox_id), []).append(row)
        return {mid: await self._expunge_rows(tx, mid, rs) for mid, rs in by_mailbox.items()}

    async def expunge(self, mailbox_id: MailboxId, uids: Sequence[Uid] | None = None) -> list[Uid]:
        return await self._delete(mailbox_id, uids, only_deleted=True)

    async def delete_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[Uid]:
        if not uids:
            return []
        return await self._delete(mailbox_id, uids, only_deleted=False)

    async def _delete(
        self, mailbox_id: MailboxId, uids: Sequence[Uid] | None, *, only_deleted: bool
    ) -> list[Uid]:
        if self._batch_writer is not None and self._write_lock is not None:
            async with self._write_lock:
                owner, gone, modseq = await self._batch_writer.expunge(
                    mailbox_id, None if uids is None else list(uids), only_deleted, _MAX_IN
                )
            if not gone or owner is None:
                return []
            change = ChangeExpunge(mailbox_id, tuple(Uid(u) for u in gone), ModSeq(modseq))
            self.hub.publish(AccountId(owner), [change])
            return list(change.uids)
        async with self.write() as tx:
            query = select(messages).where(messages.c.mailbox_id == mailbox_id)
            wanted: set[int] | None = None
            if uids is not None:
                condition, wanted = self._uid_filter(uids)
                query = query.where(condition)
            if only_deleted:
                query = query.where(messages.c.flags.like("%\\Deleted%"))
            rows = [
                r
                for r in (await tx.execute(query.order_by(messages.c.uid))).all()
                if (wanted is None or r.uid in wanted)
                and (not only_deleted or "\\Deleted" in parse_flags(r.flags))
            ]
            if not rows:
                return []
            change = await self._expunge_rows(tx, mailbox_id, rows)
            account_id = await self._owner(tx, mailbox_id)
        self.hub.publish(account_id, [change])
        return list(change.uids)

    # -- search and retention ------------------------------------------------
    async def search_text(self, mailbox_id: MailboxId, needle: str, where: str) -> set[Uid]:
        rows = await self.fetch(_SEARCH_TEXT[where], mailbox_id=mailbox_id, pattern=_like(needle))
        return {Uid(r.uid) for r in rows}

    async def search_account(
        self, account_id: AccountId, query: str, limit: int = 200
    ) -> list[tuple[Mailbox, StoredMessage]]:
        words = query.split()
        conditions = [
            or_(
                blobs.c.s_from.like(_like(w), escape="\\"),
                blobs.c.s_subject.like(_like(w), escape="\\"),
                blobs.c.s_body.like(_like(w), escape="\\"),
            )
            for w in words
        ]
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    _STORED_SELECT
                    .join(mailboxes, mailboxes.c.id == messages.c.mailbox_id)
                    .where(mailboxes.c.account_id == account_id, *conditions)
                    .order_by(messages.c.internaldate.desc())
                    .limit(limit)
                )
            ).all()
        boxes = {m.id: m for m in await self.list_mailboxes(account_id)}
        return [(boxes[MailboxId(r.mailbox_id)], _stored(r)) for r in rows]

    async def purge_retention(
        self, trash_days: float, spam_days: float, now: float | None = None
    ) -> int:
        """Deletes what has been in Trash or Spam longer than allowed (R14), counted
        from when it entered that folder."""
        now = time.time() if now is None else now
        removed = 0
        for special_use, days in ((SpecialUse.TRASH, trash_days), (SpecialUse.JUNK, spam_days)):
            cutoff = now - days * 86400
            async with self.write() as tx:
                rows = (
                    await tx.execute(
                        select(messages, mailboxes.c.account_id.label("account_id"))
                        .join(mailboxes, mailboxes.c.id == messages.c.mailbox_id)
                        .where(
                            mailboxes.c.special_use == special_use.value,
                            messages.c.entered_at < cutoff,
                        )
                    )
                ).all()
                grouped: dict[tuple[AccountId, MailboxId], list[Any]] = {}
                for row in rows:
                    key = (AccountId(row.account_id), MailboxId(row.mailbox_id))
                    grouped.setdefault(key, []).append(row)
                changes = [
                    (account, await self._expunge_rows(tx, mailbox, group))
                    for (account, mailbox), group in grouped.items()
                ]
            for account, change in changes:
                self.hub.publish(account, [change])
                removed += len(change.uids)
        return removed
