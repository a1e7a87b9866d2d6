"""SQLite's fast path: add, flags and expunge in one call to one writer thread.

The generic path (store/mail_sql.py) runs the same operations through
SQLAlchemy on either database; on a SQLite file the mail role (store/mail.py)
takes this one instead. Both call the same rules (store/rules.py): only the
way of speaking to the database differs here, never what is decided. It
writes the mail role's tables (`messages`, `blobs`, `expunged`, and the UID and
quota columns of `mailboxes` and `accounts`) and owns none.

Through aiosqlite every statement is a round trip between the event loop and
the driver's thread, and each trip can wait for the GIL; a batch of a dozen
statements then costs more than its fsync. Here the batch runs start to finish
in a dedicated thread with the stdlib driver, so the loop hands it over once.
The caller holds the store's write lock, so this connection and SQLAlchemy's
writer never write at the same time; BEGIN IMMEDIATE orders other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

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
from postfach.store.faults import rollback, translated
from postfach.store.rules import (
    MAX_IN,
    Owner,
    expunges,
    format_flags,
    plan_flags,
    uid_counts,
    uid_lookup,
)

__all__ = ["READER_MMAP", "SqliteFastPath", "WriteGate"]

_T = TypeVar("_T")

_INSERT_BLOB = (
    f"INSERT OR IGNORE INTO blobs ({', '.join(BLOB_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in BLOB_COLUMNS)})"
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in MESSAGE_COLUMNS)})"
)

# Readers map the file instead of copying page by page: SEARCH visits a blob
# row per candidate, and a copy per page was half its time.
READER_MMAP = 1 << 30


class WriteGate:
    """Orders the writers of all processes on one database file: an flock on
    `<database>.lock`, taken before BEGIN IMMEDIATE. SQLite's own lock is no
    queue: a writer that finds it taken sleeps 1, 2, 5, 10 ms and tries again,
    which with several worker processes left the CPUs idle behind commits of a
    fraction of a millisecond. A waiter on the flock wakes when it is released.
    One holder per process at a time: the store's asyncio write lock sees to it.
    """

    def __init__(self, database: str) -> None:
        self._fd = os.open(database + ".lock", os.O_RDWR | os.O_CREAT, 0o600)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire_blocking(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    async def acquire(self) -> None:
        """Without a thread hop when the gate is free, as it mostly is."""
        if self.try_acquire():
            return
        waiting = asyncio.ensure_future(asyncio.to_thread(self.acquire_blocking))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread may still get the lock: give it back then, or it stays held.
            waiting.add_done_callback(self._release_if_taken)
            raise

    def _release_if_taken(self, waiting: asyncio.Future[None]) -> None:
        if not waiting.cancelled() and waiting.exception() is None:
            self.release()

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


# store.mail.changes_since (mail_rows.CHANGES_SINCE): kind 0 the mailbox row,
# 1 a message past the MODSEQ, 2 an expunged UID.
_CHANGES_SINCE = (
    "SELECT 0, 0, highestmodseq, '' FROM mailboxes WHERE id = :mailbox"
    " UNION ALL SELECT 1, uid, modseq, flags FROM messages"
    " WHERE mailbox_id = :mailbox AND modseq > :modseq"
    " UNION ALL SELECT 2, uid, modseq, '' FROM expunged"
    " WHERE mailbox_id = :mailbox AND modseq > :modseq"
    " ORDER BY 1, 2"
)


class SqliteFastPath:
    """The fast path's one connection and thread, and the flock on the file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-fastpath")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self.gate = WriteGate(path)

    def changes_since(self, mailbox_id: int, modseq: int) -> list[tuple[int, int, int, str]]:
        """What an IMAP session reads before each command, on the event loop: a
        statement of three index look-ups costs less than the hop to a thread (as
        with the runtime file). In WAL mode a reader does not wait for the writer."""
        with translated():
            rows = self._reading().execute(
                _CHANGES_SINCE, {"mailbox": mailbox_id, "modseq": modseq}
            )
            return rows.fetchall()

    def read(self, sql: str, args: list[Any]) -> list[Any]:
        """One prepared look-up (StoreBase.fetch), on the event loop like
        changes_since: the pool's checkout and SQLAlchemy's layers around the
        driver cost more than the statement."""
        with translated():
            return self._reading().execute(sql, args).fetchall()

    def _reading(self) -> sqlite3.Connection:
        if self._reader is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(f"PRAGMA mmap_size={READER_MMAP}")  # as the pool's readers
            self._reader = conn
        return self._reader

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                "foreign_keys=ON",
                "busy_timeout=30000",
            ):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    async def add(self, rows: Sequence[BatchRow]) -> list[BatchResult]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._add_sync, list(rows))

    async def store_flags(
        self,
        mailbox_id: int,
        uids: list[int],
        mode: Literal["add", "remove", "replace"],
        flags: frozenset[str],
        unchanged_since: int | None,
    ) -> tuple[int | None, list[tuple[int, int, frozenset[str]]], list[int]]:
        """STORE in one trip: (owning account or None, (uid, modseq, flags) changed,
        UIDs failing UNCHANGEDSINCE)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            self._in_transaction,
            lambda conn: _store_flags(conn, mailbox_id, uids, mode, flags, unchanged_since),
            False,
        )

    async def expunge(
        self, mailbox_id: int, uids: list[int] | None, only_deleted: bool
    ) -> tuple[int | None, list[int], int]:
        """EXPUNGE in one trip: (owning account or None, UIDs removed, their modseq)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            self._in_transaction,
            lambda conn: _expunge(conn, mailbox_id, uids, only_deleted),
            False,
        )

    async def forget_indexed(self, pending: list[str], gone_upto: int) -> None:
        """The text indexer's bookkeeping, after the index file committed a batch:
        its blobs leave the queues. Without an fsync of its own (the next delivery's
        makes it durable): lost in a power cut, the blobs are indexed once more,
        which changes nothing, and the delivery writer is not held up meanwhile."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor,
            self._in_transaction,
            lambda conn: _forget_indexed(conn, pending, gone_upto),
            False,
        )

    def _in_transaction(self, work: Callable[[sqlite3.Connection], _T], fsync: bool = True) -> _T:
        """`work` in one write transaction. fsync=False for what is not mail (flags,
        expunges): the commit then goes to the WAL without an fsync of its own, in
        order; the next fsync'd commit (a delivery, an APPEND) makes it durable too.
        A power cut may undo the last such changes, never lose a message: Dovecot's
        default (mail_fsync = optimized) does the same."""
        with translated():
            conn = self._connection()
            self.gate.acquire_blocking()
            try:
                if not fsync:
                    conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
                return result
            finally:
                if not fsync:
                    conn.execute("PRAGMA synchronous=FULL")
                self.gate.release()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
        self.gate.close()

    def _add_sync(self, rows: list[BatchRow]) -> list[BatchResult]:
        return self._in_transaction(lambda conn: self._plan_and_insert(conn, rows))

    def _plan_and_insert(self, conn: sqlite3.Connection, rows: list[BatchRow]) -> list[BatchResult]:
        mailbox_ids = sorted({r[0] for r in rows})
        marks = ", ".join("?" for _ in mailbox_ids)
        owners: dict[int, Owner] = {
            m: (a, q, u)
            for m, a, q, u in conn.execute(
                "SELECT mailboxes.id, accounts.id, accounts.quota_bytes, accounts.used_bytes"
                " FROM mailboxes JOIN accounts ON accounts.id = mailboxes.account_id"
                f" WHERE mailboxes.id IN ({marks})",
                mailbox_ids,
            )
        }
        verdicts, charged, accepted = admitted(rows, owners)
        return in_order(verdicts, self._insert(conn, accepted, owners, charged))

    def _insert(
        self,
        conn: sqlite3.Connection,
        accepted: list[BatchRow],
        owners: dict[int, Owner],
        charged: dict[int, int],
    ) -> list[BatchResult]:
        if not accepted:
            return []
        first_uid: dict[int, int] = {}
        modseqs: dict[int, int] = {}
        for mailbox_id, count in uid_counts(row[0] for row in accepted):
            uidnext, modseq = conn.execute(
                "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1"
                " WHERE id = ? RETURNING uidnext, highestmodseq",
                (count, mailbox_id),
            ).fetchone()
            first_uid[mailbox_id], modseqs[mailbox_id] = uidnext - count, modseq
        conn.executemany(_INSERT_BLOB, blob_rows(accepted))
        rows, results = message_rows(accepted, first_uid, modseqs, owners)
        conn.executemany(_INSERT_MESSAGE, rows)
        conn.executemany(
            "UPDATE accounts SET used_bytes = used_bytes + ? WHERE id = ?",
            [(size, account) for account, size in charged.items()],
        )
        return results


def _forget_indexed(conn: sqlite3.Connection, pending: list[str], gone_upto: int) -> None:
    for start in range(0, len(pending), MAX_IN):
        chunk = pending[start : start + MAX_IN]
        marks = ", ".join("?" for _ in chunk)
        conn.execute(f"DELETE FROM text_pending WHERE sha256 IN ({marks})", chunk)
    if gone_upto:
        conn.execute("DELETE FROM text_gone WHERE seq <= ?", (gone_upto,))


def _store_flags(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uids: list[int],
    mode: Literal["add", "remove", "replace"],
    flags: frozenset[str],
    unchanged_since: int | None,
) -> tuple[int | None, list[tuple[int, int, frozenset[str]]], list[int]]:
    condition, values, wanted = _uid_condition(uids)
    rows = conn.execute(
        "SELECT id, uid, modseq, flags FROM messages WHERE mailbox_id = ?"
        + condition
        + " ORDER BY uid",
        [mailbox_id, *values],
    )
    updates, failed = plan_flags(rows.fetchall(), mode, flags, unchanged_since, wanted)
    planned: list[tuple[int, int, frozenset[str]]] = []
    if updates:
        row = conn.execute(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?"
            " RETURNING highestmodseq",
            (mailbox_id,),
        ).fetchone()
        modseq = int(row[0])
        conn.executemany(
            "UPDATE messages SET flags = ?, modseq = ? WHERE id = ?",
            [(format_flags(f), modseq, i) for i, _, f in updates],
        )
        planned = [(u, modseq, f) for _, u, f in updates]
    owner = conn.execute("SELECT account_id FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    return (int(owner[0]) if owner else None), planned, failed


def _uid_condition(uids: list[int]) -> tuple[str, list[int], set[int] | None]:
    """SQL for "uid in uids" as the rules say (rules.uid_lookup)."""
    values, wanted = uid_lookup(uids)
    if wanted is None:
        return f" AND uid IN ({', '.join('?' for _ in values)})", values, None
    return " AND uid BETWEEN ? AND ?", values, wanted


def _expunge(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uids: list[int] | None,
    only_deleted: bool,
) -> tuple[int | None, list[int], int]:
    """The fast twin of mail_sql.expunge_rows: removes the rows,
    remembers them for VANISHED, frees their quota and their unreferenced blobs."""
    sql = "SELECT id, uid, flags, size, blob_sha256 FROM messages WHERE mailbox_id = ?"
    params: list[object] = [mailbox_id]
    wanted: set[int] | None = None
    if uids is not None:
        condition, values, wanted = _uid_condition(uids)
        sql += condition
        params += values
    if only_deleted:  # as mail_sql's: SQLite skips the rest, `expunges` is exact
        sql += " AND flags LIKE '%\\Deleted%'"
    rows = [
        r
        for r in conn.execute(sql + " ORDER BY uid", params)
        if expunges(r[1], r[2], wanted, only_deleted)
    ]
    owner_row = conn.execute(
        "SELECT account_id FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    owner = int(owner_row[0]) if owner_row else None
    if not rows or owner is None:
        return owner, [], 0
    (modseq,) = conn.execute(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?"
        " RETURNING highestmodseq",
        (mailbox_id,),
    ).fetchone()
    conn.executemany("DELETE FROM messages WHERE id = ?", [(r[0],) for r in rows])
    conn.executemany(
        "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
        [(mailbox_id, r[1], modseq) for r in rows],
    )
    conn.execute(
        "UPDATE accounts SET used_bytes = max(used_bytes - ?, 0) WHERE id = ?",
        (sum(r[3] for r in rows), owner),
    )
    conn.executemany(
        "DELETE FROM blobs WHERE sha256 = ?"
        " AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_sha256 = blobs.sha256)",
        [(sha,) for sha in sorted({r[4] for r in rows})],
    )
    return owner, [int(r[1]) for r in rows], int(modseq)
