"""Upkeep of the full-text index (store/textindex.py): its tables and triggers
made by migrate, and the deferred indexing that fills it.

Delivery does not index. A trigger on `blobs` puts each new blob's sha256 into
`text_pending` in the transaction that stores the blob (so a crash loses
nothing), and the indexer (textindexer.py, a process of its own) moves pending
blobs into the index in batches, off the delivery path. SEARCH scans the
blobs still pending, so its answers are exact and include a message the moment
it is stored.

What is indexed is `blob_words`: the distinct words of each blob's `s_head`
and `s_body` (`distinct_words`). Every trigram of the text that holds no white
space lies within one word, so it is in the words too: the index finds every
blob holding such a trigram, at a fraction of the cost of the whole text (a
message repeats its words).

- SQLite: `words_fts` (FTS5 trigram, external content on `blob_words`) in the
  index's own file (store/textfile.py). A round reads a batch (`take`), writes
  its words there, and then takes it out of the queue (the fast path's
  `forget_indexed`, without an fsync: lost, it is only indexed again); a deleted
  blob's words go by the `text_gone` queue its trigger fills.
- PostgreSQL: `pg_trgm` GIN indexes on `blob_words`. Drains take their rows
  with FOR UPDATE SKIP LOCKED, so nodes draining at once take disjoint batches
  and never wait on each other; a blob deleted meanwhile waits for the drain
  (its queue row cascades) and then takes its words along (statement trigger).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, inspect, text

from postfach.message import ParsedMessage, parse_message
from postfach.message.searchhead import HEAD_CAP, head_search_text
from postfach.store import textfile

__all__ = [
    "Batch",
    "distinct_words",
    "drain",
    "ensure",
    "is_indexed",
    "pending_count",
    "take",
]

log = logging.getLogger(__name__)

_BACKFILL_BATCH = 200
_SQLITE_DDL = (
    # The index of the text itself, before it was deferred and made of words.
    "DROP TRIGGER IF EXISTS blobs_fts_insert",
    "DROP TRIGGER IF EXISTS blobs_fts_delete",
    "DROP TRIGGER IF EXISTS blobs_fts_update",
    "DROP TRIGGER IF EXISTS blobs_fts_queue",
    "DROP TRIGGER IF EXISTS blobs_fts_unindex",
    "DROP TRIGGER IF EXISTS blobs_fts_reindex",
    "DROP TABLE IF EXISTS blobs_fts",
    # The index of words in the database itself, before it had a file of its own.
    "DROP TRIGGER IF EXISTS blob_words_insert",
    "DROP TRIGGER IF EXISTS blob_words_delete",
    "DROP TABLE IF EXISTS words_fts",
    "DROP TABLE IF EXISTS blob_words",
    # Blobs deleted, whose words the indexer is to take out of the index file.
    # AUTOINCREMENT: a sequence number is never given twice, so the indexer
    # deletes exactly the rows it took, never a later deletion of the same blob.
    "CREATE TABLE IF NOT EXISTS text_gone (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " sha256 TEXT NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS blobs_text_queue AFTER INSERT ON blobs BEGIN"
    " INSERT OR IGNORE INTO text_pending (sha256) VALUES (new.sha256); END",
    "CREATE TRIGGER IF NOT EXISTS blobs_text_unindex AFTER DELETE ON blobs BEGIN"
    " DELETE FROM text_pending WHERE sha256 = old.sha256;"
    " INSERT INTO text_gone (sha256) VALUES (old.sha256); END",
    "CREATE TRIGGER IF NOT EXISTS blobs_text_requeue AFTER UPDATE OF s_head, s_body ON blobs"
    " BEGIN INSERT OR IGNORE INTO text_pending (sha256) VALUES (new.sha256); END",
)
_PG_DDL = (
    "CREATE TABLE IF NOT EXISTS blob_words (id BIGSERIAL PRIMARY KEY,"
    " sha256 VARCHAR(64) NOT NULL UNIQUE, s_head TEXT NOT NULL, s_body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blob_words_s_head_trgm ON blob_words"
    " USING gin (s_head gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS blob_words_s_body_trgm ON blob_words"
    " USING gin (s_body gin_trgm_ops)",
    # The indexes on `blobs` that delivery updated before indexing was deferred.
    "DROP INDEX IF EXISTS blobs_s_head_trgm",
    "DROP INDEX IF EXISTS blobs_s_body_trgm",
    "DROP TABLE IF EXISTS blob_text",
    "CREATE OR REPLACE FUNCTION blobs_text_queue() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO text_pending (sha256) SELECT sha256 FROM added"
    " ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION blobs_text_unindex() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM blob_words WHERE sha256 IN (SELECT sha256 FROM removed);"
    " RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS blobs_text_queue ON blobs",
    "CREATE TRIGGER blobs_text_queue AFTER INSERT ON blobs REFERENCING NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION blobs_text_queue()",
    "DROP TRIGGER IF EXISTS blobs_text_unindex ON blobs",
    "CREATE TRIGGER blobs_text_unindex AFTER DELETE ON blobs REFERENCING OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION blobs_text_unindex()",
)
_QUEUE_UNINDEXED = text(
    "INSERT INTO text_pending (sha256) SELECT sha256 FROM blobs b"
    " WHERE NOT EXISTS (SELECT 1 FROM blob_words w WHERE w.sha256 = b.sha256)"
    " ON CONFLICT DO NOTHING"
)


# -- migrate -------------------------------------------------------------------
async def ensure(conn: Any, dialect: str, index_file: str | None = None) -> None:
    """Run by migrate (after create_all made `text_pending`): gives older databases
    `s_head` (filled from each blob) and the index with its triggers, on SQLite
    in `index_file` (store/textfile.py; None: no index). A database whose index
    is new queues all its blobs for the indexer."""
    columns = await conn.run_sync(
        lambda sync: {column["name"] for column in inspect(sync).get_columns("blobs")}
    )
    # messages_blob_uid, made by create_all, covers what this index did.
    await conn.execute(text("DROP INDEX IF EXISTS messages_blob"))
    if "s_head" not in columns:
        await conn.execute(text("ALTER TABLE blobs ADD COLUMN s_head TEXT NOT NULL DEFAULT ''"))
        await _backfill_head(conn)
    if dialect == "sqlite":
        await _sqlite_index(conn, index_file)
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


async def _sqlite_index(conn: Any, index_file: str | None) -> None:
    # The triggers that kept the words in the database itself: made anew once.
    # Not at every start: a change of the schema makes every other connection
    # read it again.
    for (name,) in (await conn.execute(_OLD_TRIGGERS)).all():
        await conn.execute(text(f"DROP TRIGGER {name}"))
    for statement in _SQLITE_DDL:
        await conn.execute(text(statement))
    if index_file is None:  # a database in memory: SEARCH scans
        await conn.execute(text("DROP TRIGGER blobs_text_queue"))
        await conn.execute(text("DELETE FROM text_pending"))
        return
    ident = (await conn.execute(_INDEX_ID)).scalar()
    if ident is None:
        ident = uuid.uuid4().hex
        await conn.execute(_NEW_INDEX_ID, {"ident": ident})
    if await asyncio.to_thread(textfile.prepare, index_file, ident):
        # Indexed in the background; SEARCH scans what is pending meanwhile.
        await conn.execute(text("DELETE FROM text_gone"))
        await conn.execute(
            text("INSERT OR IGNORE INTO text_pending (sha256) SELECT sha256 FROM blobs")
        )


_OLD_TRIGGERS = text(
    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    " AND name IN ('blobs_text_unindex', 'blobs_text_requeue') AND sql LIKE '%blob_words%'"
)
_INDEX_ID = text("SELECT value FROM meta WHERE key = 'text_index'")
_NEW_INDEX_ID = text("INSERT INTO meta (key, value) VALUES ('text_index', :ident)")


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
        await conn.execute(_QUEUE_UNINDEXED)


async def _pg_has_index(conn: Any) -> bool:
    found = await conn.execute(text("SELECT to_regclass('blob_words_s_body_trgm') IS NOT NULL"))
    return bool(found.scalar())


async def is_indexed(conn: Any, dialect: str) -> bool:
    """On a reader's connection, which has SQLite's index file attached."""
    if dialect == "sqlite":
        found = await conn.execute(
            text(
                f"SELECT 1 FROM {textfile.SCHEMA}.sqlite_master"
                " WHERE type = 'table' AND name = 'words_fts'"
            )
        )
        return found.first() is not None
    return await _pg_has_index(conn)


# -- deferred indexing ---------------------------------------------------------
def distinct_words(text: str) -> str:
    """The words (runs without white space) of `text`, each once. Their order does
    not matter, as no needle the words answer for holds white space; a set is a
    fifth cheaper than an ordered dict here."""
    return " ".join(set(text.split()))


_PG_TAKE = text(
    "DELETE FROM text_pending WHERE sha256 IN"
    " (SELECT sha256 FROM text_pending LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING sha256"
)
_TEXTS = text("SELECT sha256, s_head, s_body FROM blobs WHERE sha256 IN :shas").bindparams(
    bindparam("shas", expanding=True)
)
_PG_ADD_WORDS = text(
    "INSERT INTO blob_words (sha256, s_head, s_body) VALUES (:sha, :head, :body)"
    " ON CONFLICT (sha256) DO NOTHING"
)


async def drain(conn: Any, limit: int) -> int:
    """PostgreSQL: indexes up to `limit` pending blobs in the caller's write
    transaction; how many it took from the queue (fewer than `limit`: the queue
    is empty, or other drains hold the rest)."""
    shas = [row[0] for row in await conn.execute(_PG_TAKE, {"n": limit})]
    if not shas:
        return 0
    rows = (await conn.execute(_TEXTS, {"shas": shas})).all()
    words = [
        {"sha": sha, "head": distinct_words(head), "body": distinct_words(body)}
        for sha, head, body in rows
    ]
    if words:
        await conn.execute(_PG_ADD_WORDS, words)
    return len(shas)


@dataclass(frozen=True, slots=True)
class Batch:
    """SQLite: what one round of the indexer takes from the database's queues
    (`take`), puts into the index file, and then deletes from the queues
    (`SqliteFastPath.forget_indexed`)."""

    pending: list[str]  # blobs queued for the index, as read
    words: list[tuple[str, str, str]]  # (sha256, head words, body words) of those still stored
    gone_upto: int  # text_gone rows up to this seq were read
    dropped: list[str]  # blobs deleted and not stored again: out of the index

    def __len__(self) -> int:
        return len(self.pending) + len(self.dropped)


_SQLITE_TAKE = text("SELECT sha256 FROM text_pending LIMIT :n")
_SQLITE_GONE = text(
    "SELECT g.seq, g.sha256, EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = g.sha256)"
    " FROM text_gone g ORDER BY g.seq LIMIT :n"
)


async def take(conn: Any, limit: int) -> Batch:
    """SQLite, on a reader: up to `limit` queued blobs with their words, and up to
    `limit` deleted ones. No lock is held meanwhile: what changes after this read
    stays queued for the next round (a blob stored again is queued again)."""
    pending = [row[0] for row in await conn.execute(_SQLITE_TAKE, {"n": limit})]
    rows = (await conn.execute(_TEXTS, {"shas": pending})).all() if pending else []
    words = [(sha, distinct_words(head), distinct_words(body)) for sha, head, body in rows]
    # Read after the texts: a blob deleted in between is dropped, not indexed.
    gone = (await conn.execute(_SQLITE_GONE, {"n": limit})).all()
    dropped = list(dict.fromkeys(sha for _, sha, stored in gone if not stored))
    if dropped:
        out = set(dropped)
        words = [entry for entry in words if entry[0] not in out]
    return Batch(pending, words, gone[-1][0] if gone else 0, dropped)


async def pending_count(conn: Any) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM text_pending"))).scalar())
