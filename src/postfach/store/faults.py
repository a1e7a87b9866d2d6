"""Driver errors sorted once into the two faults protocols answer: down or full.

The store raises `StoreUnavailable` when the database cannot be reached or
used right now (PostgreSQL stopped or restarting, a connection cut, SQLite's
file locked or unopenable) and `StoreFull` when it cannot grow (SQLITE_FULL,
ENOSPC, PostgreSQL's disk_full, "could not extend file"). Both are temporary
for the client: SMTP 451 4.3.0 / 452 4.3.1, IMAP NO [UNAVAILABLE], POP3
-ERR [SYS/TEMP]. Protocols see only these two types, never a driver's.

`report()` logs them: one line, not a traceback, and at most one line per
kind every REPORT_EVERY seconds (with a count of the ones left out), so an
outage under load is a few lines, not thousands of tracebacks.

`translated()` wraps every way into the database (store/base.py's read, write
and fetch, the SQLite fast path, the runtime file): anything else passes
through untouched, so a bug still surfaces as a bug.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator

from postfach.store.errors import StoreError, StoreFull, StoreUnavailable

__all__ = ["classify", "report", "rollback", "translated"]

log = logging.getLogger(__name__)

REPORT_EVERY = 10.0  # seconds between log lines about one kind of fault

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xff).
_SQLITE_FULL = {13}  # SQLITE_FULL: disk full or max_page_count reached
_SQLITE_DOWN = {5, 6, 10, 14, 15}  # BUSY, LOCKED, IOERR, CANTOPEN, PROTOCOL
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# PostgreSQL SQLSTATE: 53100 disk_full ("could not extend file"); class 08 is a
# lost or refused connection, 57P0x a server shutting down or starting up,
# 53xxx other resources (memory, too many connections).
_PG_FULL = ("53100",)
_PG_DOWN = ("08", "57P", "53")
# Names of driver exceptions that mean "no usable connection" but carry no
# SQLSTATE: asyncpg's InterfaceError ("connection is closed") and its kin, and
# InternalClientError ("cannot switch to state 12; another operation is in
# progress"), which a pooled connection cut by a restart raises on next use.
_DOWN_NAMES = {
    "InterfaceError",
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "InternalClientError",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what SQLAlchemy wrapped (`.orig`) and its causes."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None]
        todo += [item.__cause__, item.__context__]


def _sqlstate(exc: BaseException) -> str:
    for name in ("sqlstate", "pgcode"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _one(exc: BaseException) -> type[StoreError] | None:
    if isinstance(exc, StoreFull | StoreUnavailable):
        return type(exc)
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in _SQLITE_FULL or "database or disk is full" in str(exc):
            return StoreFull
        if code in _SQLITE_DOWN or "database is locked" in str(exc):
            return StoreUnavailable
        return None
    state = _sqlstate(exc)
    if state.startswith(_PG_FULL):
        return StoreFull
    if state.startswith(_PG_DOWN):
        return StoreUnavailable
    if isinstance(exc, OSError):  # a refused or cut connection, a timeout, ENOSPC
        return StoreFull if exc.errno in _FULL_ERRNOS else StoreUnavailable
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy saw a disconnect
        return StoreUnavailable
    if type(exc).__name__ in _DOWN_NAMES:
        return StoreUnavailable
    name = f"{type(exc).__module__}.{type(exc).__name__}"
    if name == "sqlalchemy.exc.TimeoutError":  # no connection free in the pool
        return StoreUnavailable
    return None


def classify(exc: BaseException) -> type[StoreError] | None:
    """StoreFull, StoreUnavailable, or None when `exc` is neither."""
    found: type[StoreError] | None = None
    for item in _chain(exc):
        kind = _one(item)
        if kind is StoreFull:
            return StoreFull
        found = found or kind
    return found


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raises driver faults as StoreUnavailable / StoreFull (cause kept)."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        raise kind(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    """One line for the log: the driver's words, without a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


_last_report: dict[type[StoreError], float] = {}
_left_out: Counter[type[StoreError]] = Counter()


def report(exc: StoreError, where: str) -> None:
    """Logs a store fault seen by `where` (a session, delivery), rate-limited."""
    kind = type(exc)
    now = time.monotonic()
    last = _last_report.get(kind)
    if last is not None and now - last < REPORT_EVERY:
        _left_out[kind] += 1
        return
    _last_report[kind] = now
    more = _left_out.pop(kind, 0)
    what = "storage full" if isinstance(exc, StoreFull) else "store unavailable"
    tail = f" ({more} more in the last {now - last:.0f} s)" if more and last is not None else ""
    log.warning("%s: %s: %s%s", where, what, exc, tail)


def rollback(conn: sqlite3.Connection) -> None:
    """Ends a failed transaction. A failed COMMIT (SQLITE_FULL, say) may leave
    it open, and then every later BEGIN would fail too; an error SQLite already
    rolled back makes ROLLBACK itself fail, which must not hide the first error."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
