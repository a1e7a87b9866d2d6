"""The full-text index of the mail role: substring search over the blobs' text (R16).

SEARCH FROM/TO/CC/BCC/SUBJECT/BODY/TEXT (RFC 9051 §6.4.4) and the webmail's
search are substring matches on the case-folded text delivery stored with each
blob (`s_from` ... `s_body`, and `s_head`: every header field and the attachment
names). A scan reads that text for every message of the mailbox; the index
narrows the candidates first, and the same exact substring test then confirms
each one, so the answers never differ from the scan's.

The index holds each blob's distinct words (store/textupkeep.py): a needle's
trigrams without white space are each within one word of any text holding the
needle, so they find it there. A needle without white space is in the text
exactly when it is in the words, so its candidates are confirmed against the
words; one with white space against the blob's text.

- SQLite: an FTS5 table `words_fts` with the trigram tokenizer over the words
  of `s_head` and `s_body` (external content: `blob_words`), in a file of its
  own that readers attach (store/textfile.py).
- PostgreSQL: `pg_trgm` GIN indexes on `blob_words`, which answer
  ``LIKE '%needle%'`` exactly (trigram candidates, rechecked by the server).
  Not a tsvector: words and stems lose substrings within words. Without the
  right to CREATE EXTENSION there is no index and LIKE scans.

Delivery does not index: new blobs wait in `text_pending` until the server's
indexer takes them in, and every search adds the exact scan of the pending
blobs to the index's answer, so nothing is ever missed.
Blobs are shared by their messages, so COPY and MOVE add no index rows, and a
blob's rows go when its last message is expunged (the blob is collected).
Needles without a trigram free of white space (shorter than three characters,
or like "a b") always scan.
The text is the blob's: the trace fields delivery puts in each message's own
prefix (Return-Path, Delivered-To, Received) are not in it, so TEXT does not
find what only they hold (HEADER on those fields reads them).
Only the mail role (store/mail.py) calls this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, text

from postfach.store import textfile
from postfach.store.schema import blobs, text_pending

__all__ = [
    "MIN_INDEXED",
    "SEARCH_FIELDS",
    "account_filters",
    "mailbox_search",
]

# SQLite's index, in its own file (store/textfile.py).
WORDS_FTS = f"{textfile.SCHEMA}.words_fts"
BLOB_WORDS = f"{textfile.SCHEMA}.blob_words"
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


# -- queries -------------------------------------------------------------------
def _spaced(piece: str) -> bool:
    return any(ch.isspace() for ch in piece)


def trigrams(needle: str, most: int = MOST_TRIGRAMS) -> list[str]:
    """Up to `most` of the needle's trigrams that hold no white space, the first
    and the last among them: each is within one word of a text holding the needle."""
    every = [t for t in (needle[i : i + 3] for i in range(len(needle) - 2)) if not _spaced(t)]
    if len(every) <= most:
        return list(dict.fromkeys(every))
    step = (len(every) - 1) / (most - 1)
    return list(dict.fromkeys(every[round(i * step)] for i in range(most)))


def fts_query(columns: Sequence[str], needle: str) -> str:
    """FTS5 query: the needle's trigrams, all in one of `columns`. A superset of
    the blobs holding the needle: the index keeps no positions (detail=column),
    which costs under half the CPU at indexing and a fraction of the space."""
    terms = " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams(needle))
    return f"{{{' '.join(columns)}}} : ({terms})"


def _exact(dialect: str, columns: Sequence[str], slot: str, table: str = "b") -> str:
    """Any of `columns` of `table` contains the (case-folded) needle bound at `slot`."""
    function = "instr" if dialect == "sqlite" else "strpos"
    return "(" + " OR ".join(f"{function}({table}.{c}, {slot}) > 0" for c in columns) + ")"


def like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def mailbox_search(
    dialect: str, mailbox_id: int, needle: str, where: str, indexed: bool
) -> tuple[str, list[Any]]:
    """(SQL, arguments) for the UIDs in the mailbox whose `where` text contains the
    case-folded `needle`; placeholders of the raw driver (? or $n). Indexed: the
    index's confirmed candidates and, after UNION ALL, the pending blobs scanned
    (a blob is in one or the other, and each message has its own UID)."""
    index_columns, exact_columns = SEARCH_FIELDS[where]
    use_index = indexed and bool(trigrams(needle))
    # The words answer exactly for a needle without white space in them.
    on_words = exact_columns == index_columns and not _spaced(needle)
    if dialect == "sqlite":
        exact = _exact(dialect, exact_columns, "?")
        needles = [needle] * len(exact_columns)
        scan = (
            "SELECT m.uid FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256"
            f" WHERE m.mailbox_id = ? AND {exact}"
        )
        if not use_index:
            return scan, [mailbox_id, *needles]
        confirm = _exact(dialect, exact_columns, "?", "w") if on_words else exact
        # From the index's candidates to their messages, never the other way
        # (SQLite would pick the mailbox's index and rescan it per row).
        sql = (
            f"SELECT m.uid FROM {WORDS_FTS} CROSS JOIN {BLOB_WORDS} w ON w.id = words_fts.rowid"
            + ("" if on_words else " CROSS JOIN blobs b ON b.sha256 = w.sha256")
            + " CROSS JOIN messages m INDEXED BY messages_blob_uid ON m.blob_sha256 = w.sha256"
            f" WHERE words_fts MATCH ? AND m.mailbox_id = ? AND {confirm}"
            " UNION ALL SELECT m.uid FROM text_pending p CROSS JOIN blobs b ON b.sha256 = p.sha256"
            " CROSS JOIN messages m INDEXED BY messages_blob_uid ON m.blob_sha256 = b.sha256"
            f" WHERE m.mailbox_id = ? AND {exact}"
        )
        return sql, [fts_query(index_columns, needle), mailbox_id, *needles, mailbox_id, *needles]
    exact = _exact(dialect, exact_columns, "$2")
    if not use_index:
        return (
            "SELECT m.uid FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256"
            f" WHERE m.mailbox_id = $1 AND {exact}",
            [mailbox_id, needle],
        )
    # LIKE is what the pg_trgm indexes answer (strpos they cannot). As on SQLite,
    # from the candidate blobs to their messages through messages_blob_uid: the
    # planner, which cannot estimate a trigram match well, would otherwise often
    # read the whole mailbox and hash it (OFFSET 0 keeps the subquery a subquery).
    lateral = (
        " CROSS JOIN LATERAL (SELECT uid FROM messages WHERE blob_sha256 = {0}.sha256"
        " AND mailbox_id = $1 OFFSET 0) m"
    )
    # Each piece between white space is within a word (the whole needle, if none).
    pieces = [p for p in needle.split() if len(p) >= MIN_INDEXED]
    slots = [f"${i}" for i in range(3, 3 + len(pieces))]
    candidates = " OR ".join(
        "(" + " AND ".join(f"w.{c} LIKE {slot}" for slot in slots) + ")" for c in index_columns
    )
    sql = f"SELECT m.uid FROM blob_words w{lateral.format('w')} WHERE ({candidates})"
    if not on_words:
        sql = (
            "SELECT m.uid FROM blob_words w JOIN blobs b ON b.sha256 = w.sha256"
            f"{lateral.format('w')} WHERE ({candidates}) AND {exact}"
        )
    sql += (
        " UNION ALL SELECT m.uid FROM text_pending p JOIN blobs b ON b.sha256 = p.sha256"
        f"{lateral.format('p')} WHERE {exact}"
    )
    return sql, [mailbox_id, needle, *(like_pattern(p) for p in pieces)]


def account_filters(
    dialect: str, needles: Sequence[str], exact_columns: Sequence[str], indexed: bool
) -> list[Any]:
    """WHERE conditions on `blobs` for the webmail's search across folders: each
    case-folded needle (a word) in one of `exact_columns`, the candidates
    narrowed by the index (or pending) for the needles it can take."""
    function = func.instr if dialect == "sqlite" else func.strpos
    conditions: list[Any] = [
        or_(*(function(blobs.c[c], needle) > 0 for c in exact_columns)) for needle in needles
    ]
    long = [n for n in needles if trigrams(n)] if indexed else []
    if not long:
        return conditions
    pending = blobs.c.sha256.in_(select(text_pending.c.sha256))
    if dialect == "sqlite":
        query = " AND ".join(fts_query(INDEXED_COLUMNS, n) for n in long)
        in_index = text(
            f"blobs.sha256 IN (SELECT w.sha256 FROM {WORDS_FTS}"
            f" CROSS JOIN {BLOB_WORDS} w ON w.id = words_fts.rowid"
            " WHERE words_fts MATCH :fts_query)"
        ).bindparams(fts_query=query)
        return [or_(in_index, pending), *conditions]
    # PostgreSQL's LIKE escapes with a backslash unless told otherwise.
    likes = " AND ".join(
        "(" + " OR ".join(f"s_{c} LIKE :like{i}" for c in ("head", "body")) + ")"
        for i in range(len(long))
    )
    in_index = text(f"blobs.sha256 IN (SELECT sha256 FROM blob_words WHERE {likes})").bindparams(
        **{f"like{i}": like_pattern(n) for i, n in enumerate(long)}
    )
    return [or_(in_index, pending), *conditions]
