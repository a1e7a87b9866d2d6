"""Upkeep of the full-text index (store/textindex.py): its tables and triggers
made by migrate, and the deferred indexing that fills it.

Delivery does not index. A trigger on `blobs` puts each new blob's sha256 into
`text_pending` in the transaction that stores the blob (so a crash loses
nothing), and `drain` moves pending blobs into the index in batches, off the
delivery path (the server's indexer task, app.py). SEARCH scans the blobs still
pending, so its answers are exact and include a message the moment it is stored.

- SQLite: `blobs_fts` (FTS5, external content on `blobs`). Whether a blob is in
  it is `blobs_fts_docsize` having its rowid: the delete and update triggers
  touch the index only then (an FTS5 'delete' of a row never inserted would
  corrupt it). Writers are serialized, so two drains never index one blob.
- PostgreSQL: `blob_text` (sha256, s_head, s_body) with `pg_trgm` GIN indexes,
  a copy of the two indexed columns: indexes on `blobs` itself would be updated
  by every delivery. Drains take their rows with FOR UPDATE SKIP LOCKED, so
  nodes draining at once take disjoint batches and never wait on each other;
  a blob deleted meanwhile waits for the drain and then takes its copy along
  (statement trigger on `blobs`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, inspect, text

from postfach.message import ParsedMessage, parse_message
from postfach.message.searchhead import HEAD_CAP, head_search_text

__all__ = ["drain", "ensure", "is_indexed", "pending_count"]

log = logging.getLogger(__name__)

_BACKFILL_BATCH = 200
_FTS_HAS = "EXISTS (SELECT 1 FROM blobs_fts_docsize WHERE id = old.rowid)"
_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS blobs_fts USING fts5(s_head, s_body,"
    " content='blobs', content_rowid='rowid', tokenize='trigram case_sensitive 1',"
    " detail='column')",
    # The triggers of the index kept at delivery, before it was deferred.
    "DROP TRIGGER IF EXISTS blobs_fts_insert",
    "DROP TRIGGER IF EXISTS blobs_fts_delete",
    "DROP TRIGGER IF EXISTS blobs_fts_update",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_queue AFTER INSERT ON blobs BEGIN"
    " INSERT OR IGNORE INTO text_pending (sha256) VALUES (new.sha256); END",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_unindex AFTER DELETE ON blobs BEGIN"
    " DELETE FROM text_pending WHERE sha256 = old.sha256;"
    " INSERT INTO blobs_fts (blobs_fts, rowid, s_head, s_body)"
    f" SELECT 'delete', old.rowid, old.s_head, old.s_body WHERE {_FTS_HAS}; END",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_reindex AFTER UPDATE OF s_head, s_body ON blobs"
    f" WHEN {_FTS_HAS} BEGIN"
    " INSERT INTO blobs_fts (blobs_fts, rowid, s_head, s_body)"
    " VALUES ('delete', old.rowid, old.s_head, old.s_body);"
    " INSERT INTO blobs_fts (rowid, s_head, s_body) VALUES (new.rowid, new.s_head, new.s_body);"
    " END",
)
_PG_DDL = (
    "CREATE TABLE IF NOT EXISTS blob_text (sha256 VARCHAR(64) PRIMARY KEY,"
    " s_head TEXT NOT NULL, s_body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blob_text_s_head_trgm ON blob_text"
    " USING gin (s_head gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS blob_text_s_body_trgm ON blob_text"
    " USING gin (s_body gin_trgm_ops)",
    # The indexes on `blobs` that delivery updated before indexing was deferred.
    "DROP INDEX IF EXISTS blobs_s_head_trgm",
    "DROP INDEX IF EXISTS blobs_s_body_trgm",
    "CREATE OR REPLACE FUNCTION blobs_text_queue() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO text_pending (sha256) SELECT sha256 FROM added"
    " ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION blobs_text_unindex() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM blob_text WHERE sha256 IN (SELECT sha256 FROM removed);"
    " RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS blobs_text_queue ON blobs",
    "CREATE TRIGGER blobs_text_queue AFTER INSERT ON blobs REFERENCING NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION blobs_text_queue()",
    "DROP TRIGGER IF EXISTS blobs_text_unindex ON blobs",
    "CREATE TRIGGER blobs_text_unindex AFTER DELETE ON blobs REFERENCING OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION blobs_text_unindex()",
)


# -- migrate -------------------------------------------------------------------
async def ensure(conn: Any, dialect: str) -> None:
    """Run by migrate (after create_all made `text_pending`): gives older databases
    `s_head` (filled from each blob) and the index with its triggers. A database
    without the index indexes its blobs here (SQLite) or queues them (PostgreSQL)."""
    columns = await conn.run_sync(
        lambda sync: {column["name"] for column in inspect(sync).get_columns("blobs")}
    )
    # messages_blob_uid, made by create_all, covers what this index did.
    await conn.execute(text("DROP INDEX IF EXISTS messages_blob"))
    if "s_head" not in columns:
        await conn.execute(text("ALTER TABLE blobs ADD COLUMN s_head TEXT NOT NULL DEFAULT ''"))
        await _backfill_head(conn)
    if dialect == "sqlite":
        existed = await _sqlite_has_index(conn)
        for statement in _SQLITE_DDL:
            await conn.execute(text(statement))
        if not existed:
            await conn.execute(text("INSERT INTO blobs_fts (blobs_fts) VALUES ('rebuild')"))
            await conn.execute(text("DELETE FROM text_pending"))
    else:
        await _pg_index(conn)


async def _backfill_head(conn: Any) -> None:
    """`s_head` for blobs stored before it existed, from their kept parse."""
    last = ""
    while True:
        rows = (
            await conn.execute(
                text(
                    "SELECT sha256, parsed, data, s_from, s_to, s_cc, s_bcc FROM blobs"
                    " WHERE sha256 > :last"
                    " ORDER BY sha256 LIMIT :n"
                ),
                {"last": last, "n": _BACKFILL_BATCH},
            )
        ).all()
        if not rows:
            return
        updates = []
        for sha, parsed_json, data, *addresses in rows:
            raw = bytes(data)
            try:
                parsed = ParsedMessage.from_json(parsed_json)
            except ValueError:
                parsed = parse_message(raw)
            head = head_search_text(raw, parsed.header_end, parsed.body, addresses)
            folded = head[:HEAD_CAP].casefold().replace("\x00", "")
            updates.append({"sha": sha, "head": folded})
        await conn.execute(text("UPDATE blobs SET s_head = :head WHERE sha256 = :sha"), updates)
        last = rows[-1][0]


async def _sqlite_has_index(conn: Any) -> bool:
    found = await conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blobs_fts'")
    )
    return found.first() is not None


async def _pg_index(conn: Any) -> None:
    """pg_trgm needs CREATE on the database (a trusted extension since PostgreSQL
    13); without it the server scans, as before the index."""
    try:
        async with conn.begin_nested():
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except Exception as exc:  # permission denied, or contrib not installed
        log.warning("no pg_trgm (%s): SEARCH scans without a text index", exc)
        return
    existed = await _pg_has_index(conn)
    for statement in _PG_DDL:
        await conn.execute(text(statement))
    if not existed:
        # Indexed in the background; SEARCH scans what is pending meanwhile.
        await conn.execute(
            text(
                "INSERT INTO text_pending (sha256)"
                " SELECT sha256 FROM blobs ON CONFLICT DO NOTHING"
            )
        )


async def _pg_has_index(conn: Any) -> bool:
    found = await conn.execute(text("SELECT to_regclass('blob_text') IS NOT NULL"))
    return bool(found.scalar())


async def is_indexed(conn: Any, dialect: str) -> bool:
    if dialect == "sqlite":
        return await _sqlite_has_index(conn)
    return await _pg_has_index(conn)


# -- deferred indexing ---------------------------------------------------------
_SQLITE_TAKE = text("SELECT sha256 FROM text_pending LIMIT :n")
_SQLITE_INDEX = text(
    "INSERT INTO blobs_fts (rowid, s_head, s_body) SELECT b.rowid, b.s_head, b.s_body"
    " FROM blobs b WHERE b.sha256 IN :shas"
    " AND NOT EXISTS (SELECT 1 FROM blobs_fts_docsize WHERE id = b.rowid)"
).bindparams(bindparam("shas", expanding=True))
_SQLITE_DONE = text("DELETE FROM text_pending WHERE sha256 IN :shas").bindparams(
    bindparam("shas", expanding=True)
)
_PG_TAKE = text(
    "DELETE FROM text_pending WHERE sha256 IN"
    " (SELECT sha256 FROM text_pending LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING sha256"
)
_PG_INDEX = text(
    "INSERT INTO blob_text (sha256, s_head, s_body) SELECT sha256, s_head, s_body"
    " FROM blobs WHERE sha256 IN :shas ON CONFLICT (sha256) DO NOTHING"
).bindparams(bindparam("shas", expanding=True))


async def drain(conn: Any, dialect: str, limit: int) -> int:
    """Indexes up to `limit` pending blobs in the caller's write transaction;
    how many it took from the queue (fewer than `limit`: the queue is empty,
    or other drains hold the rest)."""
    if dialect == "sqlite":
        shas = [row[0] for row in await conn.execute(_SQLITE_TAKE, {"n": limit})]
        if shas:
            await conn.execute(_SQLITE_INDEX, {"shas": shas})
            await conn.execute(_SQLITE_DONE, {"shas": shas})
        return len(shas)
    shas = [row[0] for row in await conn.execute(_PG_TAKE, {"n": limit})]
    if shas:
        await conn.execute(_PG_INDEX, {"shas": shas})
    return len(shas)


async def pending_count(conn: Any) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM text_pending"))).scalar())
