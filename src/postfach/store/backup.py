"""Whole-store copies: SQLite's online backup API, PostgreSQL's pg_dump.

Not a role: these work on the database as a file or a dump, under the roles.
SQLite's backup API copies the database page by page inside one read
transaction, so the copy is the database as one commit left it, while the
server goes on writing (WAL readers do not block writers). PostgreSQL is
dumped by `pg_dump --format=custom` (a consistent snapshot by itself) and
restored by `pg_restore --clean`; both must be on PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from postfach.store import textfile
from postfach.store.errors import StoreError

__all__ = [
    "SQLITE_MAGIC",
    "backup_sqlite",
    "integrity_check",
    "note",
    "noted",
    "pg_dump",
    "pg_restore",
    "restore_sqlite",
    "sqlite_path",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
_NOTE_KEY = "backup_summary"


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL; None for PostgreSQL or memory."""
    if not url.startswith("sqlite:"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def backup_sqlite(source: Path, destination: Path) -> None:
    """A consistent copy of a live database (one read transaction), made durable."""
    temporary = destination.with_name(destination.name + ".part")
    temporary.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(temporary)
        try:
            src.backup(dst)  # pages=-1: all in one step, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dst.close()
    finally:
        src.close()
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    temporary.replace(destination)


def restore_sqlite(backup: Path, destination: Path) -> None:
    """Writes a backup over the database at `destination` (the server stopped).
    The text index's file goes: it is of the database before, and the next
    start makes it anew for the one restored (store/textfile.py)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(destination)
        try:
            dst.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    finally:
        src.close()
    textfile.remove(str(destination))


def integrity_check(path: Path) -> str:
    """ "ok", or what SQLite's integrity_check found wrong (first lines)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchmany(5)
        except sqlite3.DatabaseError as exc:
            return str(exc)
    return "; ".join(str(row[0]) for row in rows)


def note(path: Path, summary: str) -> None:
    """Keeps the backup's summary (counts, checksum) inside the copy itself."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_NOTE_KEY, summary))


def noted(path: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_NOTE_KEY,)).fetchone()
    return str(row[0]) if row else None


def forget_note(path: Path) -> None:
    """The restored database is the live one again: no backup summary in it."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (_NOTE_KEY,))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StoreError(
            f"{name} is not on PATH: install PostgreSQL's client programs "
            "(Debian: postgresql-client) or see README, 'Backup and restore'"
        )
    return path


def _libpq_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def pg_dump(url: str, destination: Path) -> None:
    temporary = destination.with_name(destination.name + ".part")
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            f"--file={temporary}",
            f"--dbname={_libpq_url(url)}",
        ]
    )
    temporary.replace(destination)


def pg_restore(backup: Path, url: str) -> None:
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url(url)}",
            str(backup),
        ]
    )


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise StoreError(f"{Path(command[0]).name}: {detail}")
