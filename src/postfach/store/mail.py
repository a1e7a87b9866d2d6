"""The mail role (`store.mail`): messages, UIDs, MODSEQs, flags, copy/move/expunge,
search, retention.

Owns the `messages`, `blobs` and `expunged` tables, and writes `mailboxes.uidnext`,
`mailboxes.highestmodseq` and `accounts.used_bytes` as it adds and removes mail.
Add, flags and expunge have two paths deciding by the same rules (store/rules.py):
SQLite's fast path (store/sqlite_fastpath.py) when the database is a SQLite file,
the generic SQLAlchemy path (store/mail_sql.py) otherwise.

Every mutation commits first and then publishes `Change` values on the hub,
so that a session never hears of a change that could still roll back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, literal, select

from postfach import metrics
from postfach.store import mail_sql, textindex, textupkeep
from postfach.store.base import Role
from postfach.store.batch import BatchResult, BatchRow
from postfach.store.blobs import prepare_blob_off_loop
from postfach.store.errors import FlagMode, NotFound, StoreError
from postfach.store.events import Change, ChangeAddUid, ChangeExpunge, ChangeFlags
from postfach.store.faults import translated
from postfach.store.mail_rows import (
    BLOB_DATA,
    CHANGES_SINCE,
    MAILBOX_BY_ID,
    PREPARED_UIDS,
    STORED_COLUMNS,
    STORED_SELECT,
    blobs_by_sha,
    messages_by_uids,
    to_mailbox,
    to_stored,
)
from postfach.store.mail_sql import NewMessage
from postfach.store.records import (
    AccountId,
    Mailbox,
    MailboxChanges,
    MailboxId,
    MailboxIndex,
    MessageMeta,
    ModSeq,
    SpecialUse,
    StoredMessage,
    Uid,
)
from postfach.store.rules import MAX_IN, format_flags, parse_flags, refusal
from postfach.store.schema import blobs, expunged, mailboxes, messages

__all__ = ["MailStore", "NewMessage", "format_flags", "parse_flags"]


class MailStore(Role):
    """Messages in mailboxes; see `MailApi` (store/api.py) for the contract."""

    _has_text_index: bool | None = None

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
        [mailbox] = await self.fetch(MAILBOX_BY_ID, id=mailbox_id)
        return result, int(mailbox.uidvalidity)

    async def add_messages(self, batch: Sequence[NewMessage]) -> list[Uid | StoreError]:
        """Adds a batch in one transaction (one fsync); each item succeeds or fails alone.

        The hot path of delivery: a handful of statements per batch, not per
        message (quota rows, one UID range per mailbox, executemany inserts).
        """
        fast, lock, direct = self.db.fastpath, self.db.write_lock, self.db.pg_direct
        rows: list[BatchRow] = [
            (m.mailbox_id, m.blob, m.prefix, format_flags(m.flags), m.internaldate) for m in batch
        ]
        if fast is not None and lock is not None:  # SQLite on a file
            async with lock:
                return self._placed(batch, await fast.add(rows))
        if direct is not None:  # PostgreSQL
            with translated(), metrics.StoreTimer(write=True):
                return self._placed(batch, await direct.add_batch(rows))
        async with self.write() as tx:  # SQLite in memory
            results, changes = await mail_sql.add(tx, self.dialect, batch)
        for account_id, change in changes:
            self.hub.publish(account_id, [change])
        return results

    def _placed(
        self, batch: Sequence[NewMessage], outcome: list[BatchResult]
    ) -> list[Uid | StoreError]:
        """Each item's UID or refusal; the changes published to the hub."""
        results: list[Uid | StoreError] = []
        for item, placed in zip(batch, outcome, strict=True):
            if isinstance(placed, str):
                results.append(refusal(placed, item.mailbox_id))
            else:
                account_id, uid, modseq = placed
                results.append(Uid(uid))
                change = ChangeAddUid(item.mailbox_id, Uid(uid), ModSeq(modseq), item.flags)
                self.hub.publish(account_id, [change])
        return results

    async def message_index(self, mailbox_id: MailboxId) -> list[MessageMeta]:
        async with self.read(offload=True) as conn:
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
        async with self.read(offload=True) as conn:
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

    async def changes_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> MailboxChanges | None:
        fast = self.db.fastpath
        rows: list[Any]
        if fast is not None:
            rows = fast.changes_since(mailbox_id, modseq)
        else:
            rows = await self.fetch(CHANGES_SINCE, mailbox_id=mailbox_id, modseq=modseq)
        if not rows or rows[0][0] != 0:
            return None
        changed = [
            MessageMeta(Uid(uid), ModSeq(m), parse_flags(flags))
            for kind, uid, m, flags in rows
            if kind == 1
        ]
        gone = [Uid(uid) for kind, uid, _, _ in rows if kind == 2]
        return MailboxChanges(ModSeq(rows[0][2]), changed, gone)

    async def get_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[StoredMessage]:
        if not uids:
            return []
        if len(uids) <= PREPARED_UIDS:
            # FETCH of a few messages, what mail programs do most: the raw driver.
            values = {f"u{i}": int(u) for i, u in enumerate(uids)}
            found = await self.fetch(messages_by_uids(len(uids)), mailbox_id=mailbox_id, **values)
            return [to_stored(r) for r in found]
        condition, wanted = mail_sql.uid_filter(uids)
        async with self.read(offload=True) as conn:
            rows = await conn.execute(
                STORED_SELECT
                .where(messages.c.mailbox_id == mailbox_id, condition)
                .order_by(messages.c.uid)
            )
            return [to_stored(r) for r in rows if wanted is None or r.uid in wanted]

    async def message_listing(self, mailbox_id: MailboxId) -> list[StoredMessage]:
        """Every message in UID order, without the parsed structure (POP3 needs none)."""
        columns = [c for c in STORED_COLUMNS if c is not blobs.c.parsed]
        async with self.read(offload=True) as conn:
            rows = await conn.execute(
                select(*columns, literal("").label("parsed"))
                .where(messages.c.mailbox_id == mailbox_id)
                .order_by(messages.c.uid)
            )
            return [to_stored(r) for r in rows]

    async def read_raws(self, batch: Sequence[StoredMessage]) -> dict[int, bytes]:
        """{message id: prefix + blob} in one query per 500 blobs; gone blobs are left out."""
        data = await self.read_blobs([m.blob_sha256 for m in batch])
        return {m.id: m.prefix + data[m.blob_sha256] for m in batch if m.blob_sha256 in data}

    async def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """{sha256: blob} in one query per 500 blobs; gone blobs are left out."""
        wanted = sorted(set(shas))
        if 0 < len(wanted) <= PREPARED_UIDS:
            # FETCH of a few bodies, what mail programs do most: the raw driver.
            values = {f"s{i}": sha for i, sha in enumerate(wanted)}
            found = await self.fetch(blobs_by_sha(len(wanted)), **values)
            return {row.sha256: bytes(row.data) for row in found}
        # More (POP3 reads ahead up to 256): megabytes, read on a thread.
        data: dict[str, bytes] = {}
        async with self.read(offload=True) as conn:
            for start in range(0, len(wanted), MAX_IN):
                rows = await conn.execute(
                    select(blobs.c.sha256, blobs.c.data).where(
                        blobs.c.sha256.in_(wanted[start : start + MAX_IN])
                    )
                )
                data.update((sha, bytes(raw)) for sha, raw in rows)
        return data

    async def read_blob(self, blob_sha256: str) -> bytes:
        rows = await self.fetch(BLOB_DATA, sha256=blob_sha256)
        if not rows:
            raise NotFound(f"no blob {blob_sha256}")
        return bytes(rows[0].data)

    async def read_raw(self, message: StoredMessage) -> bytes:
        return message.prefix + await self.read_blob(message.blob_sha256)

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
        fast = self.db.fastpath
        if fast is not None and self.db.write_lock is not None:
            async with self.db.write_lock:
                owner, planned, failed = await fast.store_flags(
                    mailbox_id, list(uids), mode, flags, unchanged_since
                )
        else:
            async with self.write() as tx:
                owner, planned, failed = await mail_sql.store_flags(
                    tx, mailbox_id, uids, mode, flags, unchanged_since
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
        condition, wanted = mail_sql.uid_filter(uids)
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
            account_id = await mail_sql.owner(tx, dst)
            if not remove:
                await mail_sql.charge_quota(tx, dst, sum(r.size for r in rows))
            first_uid, modseq = await mail_sql.allocate(tx, dst, len(rows))
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
                gone = await mail_sql.expunge_rows(tx, self.dialect, src, rows, charge=False)
                changes.append(gone)
        self.hub.publish(account_id, changes)
        return pairs

    async def expunge(self, mailbox_id: MailboxId, uids: Sequence[Uid] | None = None) -> list[Uid]:
        return await self._delete(mailbox_id, uids, only_deleted=True)

    async def delete_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[Uid]:
        if not uids:
            return []
        return await self._delete(mailbox_id, uids, only_deleted=False)

    async def _delete(
        self, mailbox_id: MailboxId, uids: Sequence[Uid] | None, *, only_deleted: bool
    ) -> list[Uid]:
        fast = self.db.fastpath
        if fast is not None and self.db.write_lock is not None:
            async with self.db.write_lock:
                owner, gone, modseq = await fast.expunge(
                    mailbox_id, None if uids is None else list(uids), only_deleted
                )
            if not gone or owner is None:
                return []
            account_id = AccountId(owner)
            change = ChangeExpunge(mailbox_id, tuple(Uid(u) for u in gone), ModSeq(modseq))
        else:
            async with self.write() as tx:
                removed = await mail_sql.delete_rows(
                    tx, self.dialect, mailbox_id, uids, only_deleted
                )
            if removed is None:
                return []
            account_id, change = removed
        self.hub.publish(account_id, [change])
        return list(change.uids)

    async def search_text(
        self, mailbox_id: MailboxId, needle: str, where: str, *, indexed: bool = True
    ) -> set[Uid]:
        folded = needle.casefold()
        if "\x00" in folded:
            return set()  # the stored text has none
        use_index = indexed and await self.text_indexed()
        sql, args = textindex.mailbox_search(self.dialect, mailbox_id, folded, where, use_index)
        async with self.read(offload=True) as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if self.dialect == "sqlite":
                rows = await driver.execute_fetchall(sql, args)
            else:
                rows = await driver.fetch(sql, *args)
        return {Uid(r[0]) for r in rows}

    async def text_indexed(self) -> bool:
        """Whether migrate made the text index (PostgreSQL may lack pg_trgm)."""
        if self.dialect == "sqlite" and self.db.text_index_file is None:
            return False  # a database in memory has none
        if self._has_text_index is None:
            async with self.read() as conn:
                self._has_text_index = await textupkeep.is_indexed(conn, self.dialect)
        return self._has_text_index

    async def index_pending(self, limit: int = 200) -> int:
        """Takes up to `limit` blobs from the deferred-indexing queue into the
        text index, in one write transaction; how many it took."""
        if not await self.text_indexed():
            return 0
        if self.dialect == "postgresql":
            async with self.write() as tx:
                return await textupkeep.drain(tx, limit)
        # SQLite: the words go to the index's own file, outside the database's
        # write lock, before the batch leaves the queue (store/textfile.py).
        words_file, fast, lock = self.db.words_file, self.db.fastpath, self.db.write_lock
        assert words_file and fast and lock  # text_indexed: a database on a file
        async with self.read(offload=True) as conn:
            batch = await textupkeep.take(conn, limit)
        if not batch:
            return 0
        await words_file.apply(batch.words, batch.dropped)
        async with lock:
            await fast.forget_indexed(batch.pending, batch.gone_upto)
        return len(batch)

    async def pending_index(self) -> int:
        """Blobs stored and not yet in the text index."""
        async with self.read() as conn:
            return await textupkeep.pending_count(conn)

    async def search_account(
        self, account_id: AccountId, query: str, limit: int = 200, *, indexed: bool = True
    ) -> list[tuple[Mailbox, StoredMessage]]:
        needles = [w.casefold() for w in query.split()]
        if any("\x00" in n for n in needles):
            return []
        use_index = indexed and await self.text_indexed()
        conditions = textindex.account_filters(
            self.dialect, needles, ("s_from", "s_subject", "s_body"), use_index
        )
        async with self.read(offload=True) as conn:
            rows = (
                await conn.execute(
                    STORED_SELECT
                    .join(mailboxes, mailboxes.c.id == messages.c.mailbox_id)
                    .where(mailboxes.c.account_id == account_id, *conditions)
                    .order_by(messages.c.internaldate.desc())
                    .limit(limit)
                )
            ).all()
        async with self.read() as conn:
            listed = await conn.execute(
                select(mailboxes).where(mailboxes.c.account_id == account_id)
            )
            boxes = {MailboxId(m.id): to_mailbox(m) for m in listed}
        return [(boxes[MailboxId(r.mailbox_id)], to_stored(r)) for r in rows]

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
                    (account, await mail_sql.expunge_rows(tx, self.dialect, mailbox, group))
                    for (account, mailbox), group in grouped.items()
                ]
            for account, change in changes:
                self.hub.publish(account, [change])
                removed += len(change.uids)
        return removed

    async def message_page(
        self, mailbox_id: MailboxId, offset: int, limit: int
    ) -> list[StoredMessage]:
        """One page of a folder, newest first (by internal date, then UID)."""
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    STORED_SELECT
                    .where(messages.c.mailbox_id == mailbox_id)
                    .order_by(messages.c.internaldate.desc(), messages.c.uid.desc())
                    .offset(max(offset, 0))
                    .limit(max(limit, 0))
                )
            ).all()
        return [to_stored(r) for r in rows]
