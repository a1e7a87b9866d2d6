"""SQLite's full-text index in a file of its own, beside the database.

The index's upkeep (FTS5 work of some 100 µs a blob) would otherwise run under
the database's one write lock, and every delivery would wait for it. In its own
file it is written by the indexer alone (textindexer.py, a process of its own),
with a connection of its own, and the database's lock is taken only to take a
batch out of `text_pending`. Readers ATTACH the file as `text_index`
(base.py), so one statement reads both.

Why every blob is in `text_pending` or in the index for every search: the
indexer commits a batch's words here before it deletes the batch from
`text_pending`, and a statement reading both takes the database's snapshot
before the attached file's (SQLite opens a statement's schemas in order, main
first): a blob no longer pending in the first was indexed in the second.

The file is derived: it is made anew, and every blob queued for it, when it is
missing, when it was made for another database (an id kept in both), or after a
restore (moving/backup.py removes it). Words of deleted blobs go by the
`text_gone` queue the database's trigger fills (textupkeep.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence

__all__ = ["SCHEMA", "WordsFile", "path_for", "prepare", "remove"]

SCHEMA = "text_index"
_SUFFIXES = ("", "-wal", "-shm", "-journal")
_DDL = (
    "CREATE TABLE IF NOT EXISTS made_for (id TEXT NOT NULL)",
    # `id`, an INTEGER PRIMARY KEY, is the index's rowid: VACUUM never renumbers it.
    "CREATE TABLE IF NOT EXISTS blob_words (id INTEGER PRIMARY KEY,"
    " sha256 TEXT NOT NULL UNIQUE, s_head TEXT NOT NULL, s_body TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS words_fts USING fts5(s_head, s_body,"
    " content='blob_words', content_rowid='id', tokenize='trigram case_sensitive 1',"
    " detail='column')",
    "CREATE TRIGGER IF NOT EXISTS blob_words_insert AFTER INSERT ON blob_words BEGIN"
    " INSERT INTO words_fts (rowid, s_head, s_body) VALUES (new.id, new.s_head, new.s_body);"
    " END",
    "CREATE TRIGGER IF NOT EXISTS blob_words_delete AFTER DELETE ON blob_words BEGIN"
    " INSERT INTO words_fts (words_fts, rowid, s_head, s_body)"
    " VALUES ('delete', old.id, old.s_head, old.s_body); END",
)


def path_for(database: str) -> str:
    return database + ".textindex"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    # Durable like the database: its batch leaves `text_pending` after this commit.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def prepare(path: str, ident: str) -> bool:
    """Makes the index file for the database `ident` names, if it is not that
    already; True when it was made anew (empty: every blob is to be queued)."""
    with contextlib.closing(_connect(path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "made_for" in tables:
            row = conn.execute("SELECT id FROM made_for").fetchone()
            if row is not None and row[0] == ident and "words_fts" in tables:
                return False
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("words_fts", "blob_words", "made_for"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _DDL:
                conn.execute(statement)
            conn.execute("INSERT INTO made_for (id) VALUES (?)", (ident,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return True


def remove(database: str) -> None:
    """Deletes the index file of `database` (the server stopped): it is made anew."""
    for suffix in _SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path_for(database) + suffix)


class WordsFile:
    """The indexer's connection to the index file: each batch in one transaction,
    on a thread (its commit waits for fsync)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def apply(self, words: Sequence[tuple[str, str, str]], dropped: Sequence[str]) -> None:
        """Puts in `words` (sha256, head words, body words), replacing what the
        index held for those blobs, and takes out the blobs `dropped`."""
        async with self._lock:
            await asyncio.to_thread(self._apply, words, dropped)

    def _apply(self, words: Sequence[tuple[str, str, str]], dropped: Sequence[str]) -> None:
        if self._conn is None:
            self._conn = _connect(self._path)
        conn = self._conn
        gone = [*dropped, *(sha for sha, _, _ in words)]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(gone), 500):  # below SQLite's variable limit
                chunk = gone[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                conn.execute(f"DELETE FROM blob_words WHERE sha256 IN ({marks})", chunk)
            conn.executemany(
                "INSERT INTO blob_words (sha256, s_head, s_body) VALUES (?, ?, ?)", words
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
