"""The full-text index of the mail role: substring search over the blobs' text (R16).

SEARCH FROM/TO/CC/BCC/SUBJECT/BODY/TEXT (RFC 9051 §6.4.4) and the webmail's
search are substring matches on the case-folded text delivery stored with each
blob (`s_from` ... `s_body`, and `s_head`: every header field and the attachment
names). A scan reads that text for every message of the mailbox; the index
narrows the candidates first, and the same exact substring test then confirms
each one, so the answers never differ from the scan's.

- SQLite: an FTS5 table `blobs_fts` with the trigram tokenizer over `s_head` and
  `s_body`, external content (the text stays in `blobs` alone), kept by triggers
  on `blobs`, so every path that adds or collects a blob (the fast path, the
  generic path, restores) keeps it. A needle of three or more characters
  becomes its trigrams: every message holding the needle holds them all.
- PostgreSQL: `pg_trgm` GIN indexes on `s_head` and `s_body`, which answer
  ``LIKE '%needle%'`` exactly (trigram candidates, rechecked by the server).
  Not a tsvector: words and stems lose substrings within words. Without the
  right to CREATE EXTENSION the indexes are left out and LIKE scans.

Blobs are shared by their messages, so COPY and MOVE add no index rows, and a
blob's rows go when its last message is expunged (the blob is collected).
Needles shorter than three characters have no trigram and always scan.
The text is the blob's: the trace fields delivery puts in each message's own
prefix (Return-Path, Delivered-To, Received) are not in it, so TEXT does not
find what only they hold (HEADER on those fields reads them). SQLite's FTS
table refers to `blobs` by rowid, which a manual VACUUM may renumber; then
``INSERT INTO blobs_fts (blobs_fts) VALUES ('rebuild')`` makes it anew.
Only the mail role (store/mail.py) calls this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, inspect, or_, text

from postfach.message import ParsedMessage, parse_message
from postfach.message.searchhead import HEAD_CAP, head_search_text
from postfach.store.schema import blobs

__all__ = [
    "MIN_INDEXED",
    "SEARCH_FIELDS",
    "account_filters",
    "ensure",
    "is_indexed",
    "mailbox_search",
]

log = logging.getLogger(__name__)

MIN_INDEXED = 3
# A long needle's trigrams beyond these narrow little more and cost a doclist each.
MOST_TRIGRAMS = 6
INDEXED_COLUMNS = ("s_head", "s_body")
# SEARCH field → (indexed columns that hold every match, columns the match must be in).
SEARCH_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "from": (("s_head",), ("s_from",)),
    "to": (("s_head",), ("s_to",)),
    "cc": (("s_head",), ("s_cc",)),
    "bcc": (("s_head",), ("s_bcc",)),
    "subject": (("s_head",), ("s_subject",)),
    "body": (("s_body",), ("s_body",)),
    "text": (INDEXED_COLUMNS, INDEXED_COLUMNS),
    "head": (("s_head",), ("s_head",)),
}
_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS blobs_fts USING fts5(s_head, s_body,"
    " content='blobs', content_rowid='rowid', tokenize='trigram case_sensitive 1',"
    " detail='column')",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_insert AFTER INSERT ON blobs BEGIN"
    " INSERT INTO blobs_fts (rowid, s_head, s_body) VALUES (new.rowid, new.s_head, new.s_body);"
    " END",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_delete AFTER DELETE ON blobs BEGIN"
    " INSERT INTO blobs_fts (blobs_fts, rowid, s_head, s_body)"
    " VALUES ('delete', old.rowid, old.s_head, old.s_body); END",
    "CREATE TRIGGER IF NOT EXISTS blobs_fts_update AFTER UPDATE OF s_head, s_body ON blobs BEGIN"
    " INSERT INTO blobs_fts (blobs_fts, rowid, s_head, s_body)"
    " VALUES ('delete', old.rowid, old.s_head, old.s_body);"
    " INSERT INTO blobs_fts (rowid, s_head, s_body) VALUES (new.rowid, new.s_head, new.s_body);"
    " END",
)
_PG_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS blobs_{c}_trgm ON blobs USING gin ({c} gin_trgm_ops)"
    for c in INDEXED_COLUMNS
)
_BACKFILL_BATCH = 200


# -- migrate -------------------------------------------------------------------
async def ensure(conn: Any, dialect: str) -> None:
    """Run by migrate: gives older databases `s_head` (filled from each blob) and
    creates the index, building it over the blobs already there."""
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
    for statement in _PG_INDEXES:
        await conn.execute(text(statement))


async def is_indexed(conn: Any, dialect: str) -> bool:
    if dialect == "sqlite":
        return await _sqlite_has_index(conn)
    found = await conn.execute(
        text(
            "SELECT 1 FROM pg_indexes"
            " WHERE tablename = 'blobs' AND indexname = 'blobs_s_body_trgm'"
        )
    )
    return found.first() is not None


# -- queries -------------------------------------------------------------------
def trigrams(needle: str, most: int = MOST_TRIGRAMS) -> list[str]:
    """Up to `most` trigrams of the needle, the first and the last among them:
    every text holding the needle holds them all."""
    every = [needle[i : i + 3] for i in range(len(needle) - 2)]
    if len(every) <= most:
        return list(dict.fromkeys(every))
    step = (len(every) - 1) / (most - 1)
    return list(dict.fromkeys(every[round(i * step)] for i in range(most)))


def fts_query(columns: Sequence[str], needle: str) -> str:
    """FTS5 query: the needle's trigrams, all in one of `columns`. A superset of
    the texts holding the needle: the index keeps no positions (detail=column),
    which costs under half the CPU at delivery and a fraction of the space."""
    terms = " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams(needle))
    return f"{{{' '.join(columns)}}} : ({terms})"


def _exact(dialect: str, columns: Sequence[str], slot: str) -> str:
    """Any of `columns` contains the (case-folded) needle bound at `slot`."""
    function = "instr" if dialect == "sqlite" else "strpos"
    return "(" + " OR ".join(f"{function}(b.{c}, {slot}) > 0" for c in columns) + ")"


def like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def mailbox_search(
    dialect: str, mailbox_id: int, needle: str, where: str, indexed: bool
) -> tuple[str, list[Any]]:
    """(SQL, arguments) for the UIDs in the mailbox whose `where` text contains the
    case-folded `needle`; placeholders of the raw driver (? or $n)."""
    index_columns, exact_columns = SEARCH_FIELDS[where]
    use_index = indexed and len(needle) >= MIN_INDEXED
    if dialect == "sqlite":
        if use_index:
            sql = (
                # From the index's candidates to their messages, never the other
                # way (SQLite would pick the mailbox's index and rescan it per row).
                "SELECT m.uid FROM blobs_fts CROSS JOIN blobs b ON b.rowid = blobs_fts.rowid"
                " CROSS JOIN messages m INDEXED BY messages_blob_uid ON m.blob_sha256 = b.sha256"
                " WHERE blobs_fts MATCH ? AND m.mailbox_id = ?"
                f" AND {_exact(dialect, exact_columns, '?')}"
            )
            args: list[Any] = [fts_query(index_columns, needle), mailbox_id]
        else:
            sql = (
                "SELECT m.uid FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256"
                f" WHERE m.mailbox_id = ? AND {_exact(dialect, exact_columns, '?')}"
            )
            args = [mailbox_id]
        return sql, args + [needle] * len(exact_columns)
    scan = (
        "SELECT m.uid FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256"
        " WHERE m.mailbox_id = $1"
    )
    if not use_index:
        return scan + " AND " + _exact(dialect, exact_columns, "$2"), [mailbox_id, needle]
    # LIKE is what the pg_trgm indexes answer (strpos they cannot). As on SQLite,
    # from the candidate blobs to their messages through messages_blob_uid: the
    # planner, which cannot estimate a trigram match well, would otherwise often
    # read the whole mailbox and hash it (OFFSET 0 keeps the subquery a subquery).
    candidates = "(" + " OR ".join(f"b.{c} LIKE $2" for c in index_columns) + ")"
    pg_args: list[Any] = [mailbox_id, like_pattern(needle)]
    if exact_columns != index_columns:
        candidates += " AND " + _exact(dialect, exact_columns, "$3")
        pg_args.append(needle)
    sql = (
        f"SELECT m.uid FROM blobs b CROSS JOIN LATERAL (SELECT uid FROM messages"
        f" WHERE blob_sha256 = b.sha256 AND mailbox_id = $1 OFFSET 0) m WHERE {candidates}"
    )
    return sql, pg_args


def account_filters(
    dialect: str, needles: Sequence[str], exact_columns: Sequence[str], indexed: bool
) -> list[Any]:
    """WHERE conditions on `blobs` for the webmail's search across folders: each
    case-folded needle in one of `exact_columns`, the candidates narrowed by the
    index for the needles it can take."""
    function = func.instr if dialect == "sqlite" else func.strpos
    conditions: list[Any] = [
        or_(*(function(blobs.c[c], needle) > 0 for c in exact_columns)) for needle in needles
    ]
    long = [n for n in needles if len(n) >= MIN_INDEXED] if indexed else []
    if not long:
        return conditions
    if dialect == "sqlite":
        query = " AND ".join(fts_query(INDEXED_COLUMNS, n) for n in long)
        narrowing = text(
            "blobs.rowid IN (SELECT rowid FROM blobs_fts WHERE blobs_fts MATCH :fts_query)"
        ).bindparams(fts_query=query)
        return [narrowing, *conditions]
    likes = [
        or_(*(blobs.c[c].like(like_pattern(n), escape="\\") for c in INDEXED_COLUMNS))
        for n in long
    ]
    return likes + conditions
