"""The runtime role (`store.runtime`): what the worker processes of one
`postfach serve --workers N` share while it runs. Owns no table of the mail
database: its tables live in a file of their own.

A small SQLite file beside the data that lives as long as the server: the
supervisor makes it anew at every start, so nothing in it outlives a restart,
by design. It holds what one process used to keep in memory and what must now
agree between processes on one machine:

- \\Recent marks: per mailbox the highest UID a session has been told about
  (imap/recent.py);
- open connections per listener and client address, for `max_connections_per_ip`
  on listeners behind a PROXY header (elsewhere the supervisor counts them as it
  hands them over: net/handover.py);
- POP3 maildrop leases on SQLite (PostgreSQL keeps them in its own table);
- failed logins per user, address and both, and the addresses each user
  logged in from, for the login throttle (auth/throttle.py);
- recent successful logins (auth/logincache.py), so a mail program whose next
  connection lands on another worker is not checked by argon2 again. Their
  keys are HMACs under `secret`, a key the supervisor made for this run and
  passed to each worker in memory: it is never written to the file, so the
  file alone tells nothing of a password; and which sign-ins one of the
  workers noted for the sessions page lately (one write to the mail database
  per sign-in, not one per worker).

Every call is one or two statements on a local file without fsync
(`synchronous=OFF`: a crash loses this state, and the next start begins a
fresh file anyway), so the calls run on the event loop: a thread hop would cost
more than the statement. Rows carry the worker that wrote them, so the
supervisor can drop a crashed worker's connections and leases. A fault of the
file (a full disk) raises StoreFull or StoreUnavailable, as the mail store's
faults do (store/faults.py).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from postfach.store.faults import rollback, translated

__all__ = ["RuntimeState"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS recent ("
    " mailbox_id INTEGER NOT NULL, uidvalidity INTEGER NOT NULL, high INTEGER NOT NULL,"
    " PRIMARY KEY (mailbox_id, uidvalidity))",
    "CREATE TABLE IF NOT EXISTS connections ("
    " listener TEXT NOT NULL, ip TEXT NOT NULL, worker INTEGER NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY (listener, ip, worker))",
    "CREATE TABLE IF NOT EXISTS auth_failures (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS auth_failures_key ON auth_failures (key, at)",
    "CREATE INDEX IF NOT EXISTS auth_failures_at ON auth_failures (at)",
    "CREATE TABLE IF NOT EXISTS auth_known ("
    " user TEXT NOT NULL, ip TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (user, ip))",
    "CREATE TABLE IF NOT EXISTS logins ("
    " key BLOB PRIMARY KEY, account_id INTEGER NOT NULL, hash_digest BLOB NOT NULL,"
    " app_password TEXT, generation INTEGER NOT NULL, expires REAL NOT NULL,"
    " second_factor INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS logins_expires ON logins (expires)",
    "CREATE INDEX IF NOT EXISTS logins_account ON logins (account_id)",
    "CREATE TABLE IF NOT EXISTS seen_noted (key TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS leases ("
    " name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL,"
    " worker INTEGER NOT NULL)",
)


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        with translated():
            return super().execute(sql, parameters)


class _Connection(sqlite3.Connection):
    """Every statement's fault becomes StoreFull / StoreUnavailable: a full disk
    makes this file unwritable first (store/faults.py)."""

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.cursor()
        return cursor.execute(sql, parameters)


class RuntimeState:
    """One worker's handle on the shared runtime file."""

    def __init__(self, path: str | Path, worker: int, secret: bytes | None = None) -> None:
        self.path = str(path)
        self.worker = worker
        self.secret = secret  # the run's key for the login cache; None: no shared cache
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, factory=_Connection
        )
        for pragma in ("journal_mode=WAL", "synchronous=OFF", "busy_timeout=5000"):
            self._conn.execute(f"PRAGMA {pragma}")

    @property
    def started(self) -> float:
        """When the supervisor made the file: the start of this server run."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'started'").fetchone()
        return float(row[0]) if row else time.time()

    @classmethod
    def create(cls, path: str | Path) -> None:
        """A fresh, empty file (the supervisor, before it starts any worker)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        state = cls(path, worker=-1)
        try:
            for statement in _SCHEMA:
                state._conn.execute(statement)
            state._conn.execute("INSERT INTO meta VALUES ('started', ?)", (time.time(),))
        finally:
            state.close()

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cursor = self._conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            rollback(self._conn)
            raise

    # -- \Recent ------------------------------------------------------------------
    def recent_high(self, mailbox_id: int, uidvalidity: int) -> int | None:
        row = self._conn.execute(
            "SELECT high FROM recent WHERE mailbox_id = ? AND uidvalidity = ?",
            (mailbox_id, uidvalidity),
        ).fetchone()
        return None if row is None else int(row[0])

    def recent_prime(self, mailbox_id: int, uidvalidity: int, high: int) -> None:
        """Sets the first mark of a mailbox unless another worker was first."""
        self._conn.execute(
            "INSERT OR IGNORE INTO recent (mailbox_id, uidvalidity, high) VALUES (?, ?, ?)",
            (mailbox_id, uidvalidity, high),
        )

    def recent_claim(self, mailbox_id: int, uidvalidity: int, uid: int) -> bool:
        """Raises the mark to `uid`; True when it was below (this caller claimed it)."""
        cur = self._conn.execute(
            "INSERT INTO recent (mailbox_id, uidvalidity, high) VALUES (?, ?, ?)"
            " ON CONFLICT (mailbox_id, uidvalidity) DO UPDATE SET high = excluded.high"
            " WHERE high < excluded.high",
            (mailbox_id, uidvalidity, uid),
        )
        return bool(cur.rowcount)

    # -- connections per client address --------------------------------------------
    def connection_opened(self, listener: str, ip: str, limit: int) -> bool:
        """Counts a connection in unless `ip` has `limit` open on `listener` already."""
        with self._transaction() as cur:
            (total,) = cur.execute(
                "SELECT coalesce(sum(n), 0) FROM connections WHERE listener = ? AND ip = ?",
                (listener, ip),
            ).fetchone()
            if total >= limit:
                return False
            cur.execute(
                "INSERT INTO connections (listener, ip, worker, n) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (listener, ip, worker) DO UPDATE SET n = n + 1",
                (listener, ip, self.worker),
            )
            return True

    def connection_closed(self, listener: str, ip: str) -> None:
        with self._transaction() as cur:
            key = (listener, ip, self.worker)
            cur.execute(
                "UPDATE connections SET n = n - 1 WHERE listener = ? AND ip = ? AND worker = ?",
                key,
            )
            # This row only, by its key: a scan of the table per close grew with
            # the number of addresses connected.
            cur.execute(
                "DELETE FROM connections WHERE listener = ? AND ip = ? AND worker = ? AND n <= 0",
                key,
            )

    # -- leases ----------------------------------------------------------------------
    def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT owner, expires FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            cur.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires, worker) VALUES (?, ?, ?, ?)",
                (name, owner, now + ttl, self.worker),
            )
            return True

    def refresh_lock(self, name: str, owner: str, ttl: float) -> bool:
        cur = self._conn.execute(
            "UPDATE leases SET expires = ? WHERE name = ? AND owner = ?",
            (time.time() + ttl, name, owner),
        )
        return bool(cur.rowcount)

    def unlock(self, name: str, owner: str) -> None:
        self._conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    # -- failed logins -----------------------------------------------------------------
    def auth_failures(self, key: str, since: float) -> list[float]:
        """Times of `key`'s failures since `since`, oldest first."""
        rows = self._conn.execute(
            "SELECT at FROM auth_failures WHERE key = ? AND at >= ? ORDER BY at", (key, since)
        ).fetchall()
        return [float(at) for (at,) in rows]

    def auth_fail(self, key: str, at: float, keep: int, forget_before: float) -> None:
        """Records a failure; keeps the newest `keep` of the key and none of any key
        older than `forget_before`."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM auth_failures WHERE at < ?", (forget_before,))
            cur.execute("INSERT INTO auth_failures (key, at) VALUES (?, ?)", (key, at))
            cur.execute(
                "DELETE FROM auth_failures WHERE key = ? AND at < ("
                " SELECT at FROM auth_failures WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?)",
                (key, key, keep - 1),
            )

    def auth_clear(self, key: str) -> None:
        self._conn.execute("DELETE FROM auth_failures WHERE key = ?", (key,))

    def auth_remember(self, user: str, ip: str, at: float) -> None:
        """`user` logged in from `ip` at `at` (the last time counts)."""
        self._conn.execute(
            "INSERT INTO auth_known (user, ip, at) VALUES (?, ?, ?)"
            " ON CONFLICT (user, ip) DO UPDATE SET at = excluded.at",
            (user, ip, at),
        )

    def auth_known(self, user: str, ip: str, since: float) -> bool:
        """Whether `user` logged in from `ip` at `since` or later."""
        row = self._conn.execute(
            "SELECT 1 FROM auth_known WHERE user = ? AND ip = ? AND at >= ?", (user, ip, since)
        ).fetchone()
        return row is not None

    # -- recent successful logins ----------------------------------------------------
    def login_get(self, key: bytes) -> tuple[int, bytes, str | None, int, float, bool] | None:
        """(account id, hash digest, app password, generation, expires, second factor)."""
        row = self._conn.execute(
            "SELECT account_id, hash_digest, app_password, generation, expires, second_factor"
            " FROM logins WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        account_id, digest, app_password, generation, expires, second_factor = row
        return int(account_id), bytes(digest), app_password, int(generation), float(expires), (
            bool(second_factor)
        )

    def login_put(
        self,
        key: bytes,
        entry: tuple[int, bytes, str | None, int, float, bool],
        now: float,
    ) -> None:
        """Remembers a login; drops the expired ones (a put follows an argon2
        check, which costs far more than this)."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM logins WHERE expires < ?", (now,))
            cur.execute("INSERT OR REPLACE INTO logins VALUES (?, ?, ?, ?, ?, ?, ?)", (key, *entry))

    def login_drop(self, key: bytes) -> None:
        self._conn.execute("DELETE FROM logins WHERE key = ?", (key,))

    def login_forget(self, account_id: int) -> None:
        self._conn.execute("DELETE FROM logins WHERE account_id = ?", (account_id,))

    def note_due(self, key: str, now: float, interval: float) -> bool:
        """True for the one caller that should note sign-in `key` now: none of
        the workers noted it within `interval`."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM seen_noted WHERE at < ?", (now - interval,))
            cur.execute("INSERT OR IGNORE INTO seen_noted (key, at) VALUES (?, ?)", (key, now))
            return bool(cur.rowcount)

    # -- the supervisor ------------------------------------------------------------
    def forget_worker(self, worker: int) -> None:
        """Drops what a worker that died held: its connections and its leases."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM connections WHERE worker = ?", (worker,))
            cur.execute("DELETE FROM leases WHERE worker = ?", (worker,))
