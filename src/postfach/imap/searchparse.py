"""Parsing of search criteria (RFC 9051 §6.4.4, RFC 7162 MODSEQ) and sort criteria (RFC 5256)."""

from __future__ import annotations

import datetime
import re

from postfach.imap import commands as c
from postfach.imap.grammar import parse_date
from postfach.imap.lexer import ATOM_STOP, Cursor

__all__ = ["search_key_list", "search_program", "sort_criteria"]

MAX_DEPTH = 50

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "RECENT": ("\\Recent", True),
    "OLD": ("\\Recent", False),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_TEXT_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_KEYS = {
    "BEFORE": ("before", False),
    "ON": ("on", False),
    "SINCE": ("since", False),
    "SENTBEFORE": ("before", True),
    "SENTON": ("on", True),
    "SENTSINCE": ("since", True),
}
# RFC 8514 SAVEDATE: the day a message was saved in its mailbox.
_SAVED_KEYS = {"SAVEDBEFORE": "before", "SAVEDON": "on", "SAVEDSINCE": "since"}
_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ARG_KEYS = (
    _TEXT_KEYS
    | set(_DATE_KEYS)
    | set(_SAVED_KEYS)
    | {"EMAILID", "THREADID"}
    | {"KEYWORD", "UNKEYWORD", "LARGER", "SMALLER", "HEADER", "UID", "NOT", "OR", "MODSEQ"}
)
SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)


def search_program(cur: Cursor) -> tuple[str | None, c.SearchKey]:
    """[CHARSET astring SP] search-key *(SP search-key)."""
    charset: str | None = None
    if cur.take(b"CHARSET "):
        charset = cur.astring().upper()
        cur.sp()
    return charset, search_key_list(cur)


def search_key_list(cur: Cursor) -> c.SearchKey:
    keys = [search_key(cur, 0)]
    while cur.take(b" "):
        keys.append(search_key(cur, 0))
    return keys[0] if len(keys) == 1 else c.KeyAnd(tuple(keys))


def _date(cur: Cursor) -> tuple[int, int, int]:
    quoted = cur.peek() == ord('"')
    raw = cur.quoted() if quoted else cur.run(ATOM_STOP)
    try:
        value = parse_date(raw.decode("ascii"))
        datetime.date(*value)  # 31-Feb or year 0 would fail later, at evaluation
        return value
    except (ValueError, UnicodeDecodeError):
        raise cur.fail("invalid date") from None


def _text(cur: Cursor) -> str:
    return cur.astring_bytes().decode("utf-8", "replace")


def search_key(cur: Cursor, depth: int) -> c.SearchKey:
    if depth > MAX_DEPTH:
        raise cur.fail("search criteria nested too deeply")
    if cur.take(b"("):
        keys = [search_key(cur, depth + 1)]
        while cur.take(b" "):
            keys.append(search_key(cur, depth + 1))
        cur.expect(b")")
        return keys[0] if len(keys) == 1 else c.KeyAnd(tuple(keys))
    ch = cur.peek()
    if ch == ord("$") or ch == ord("*") or ord("0") <= ch <= ord("9"):
        return c.KeySeq(cur.seqset())
    name = cur.atom("search key").upper()
    return _named_key(cur, name, depth)


def _named_key(cur: Cursor, name: str, depth: int) -> c.SearchKey:
    if name == "ALL":
        return c.KeyAll()
    if name in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[name]
        return c.KeyFlag(flag, present)
    if name == "NEW":
        return c.KeyAnd((c.KeyFlag("\\Recent"), c.KeyFlag("\\Seen", False)))
    if name == "SAVEDATESUPPORTED":
        return c.KeySaveDate("supported")
    if name not in _ARG_KEYS:
        raise cur.fail(f"unknown search key {name[:40]}")
    cur.sp()
    if name in _TEXT_KEYS:
        return c.KeyText(name.lower(), _text(cur))
    if name in _DATE_KEYS:
        op, sent = _DATE_KEYS[name]
        return c.KeyDate(op, _date(cur), sent)
    if name in _SAVED_KEYS:
        return c.KeySaveDate(_SAVED_KEYS[name], _date(cur))
    if name in ("EMAILID", "THREADID"):
        value = cur.atom("object id")
        if not _OBJECTID.fullmatch(value):
            raise cur.fail("invalid object id")
        return c.KeyObjectId(name, value)
    if name in ("KEYWORD", "UNKEYWORD"):
        return c.KeyFlag(cur.flag(), name == "KEYWORD")
    if name in ("LARGER", "SMALLER"):
        return c.KeySize(name == "LARGER", cur.number(limit=(1 << 63) - 1))
    if name == "HEADER":
        field = cur.astring()
        cur.sp()
        return c.KeyHeader(field, _text(cur))
    if name == "UID":
        return c.KeySeq(cur.seqset(), uid=True)
    if name == "NOT":
        return c.KeyNot(search_key(cur, depth + 1))
    if name == "OR":
        left = search_key(cur, depth + 1)
        cur.sp()
        return c.KeyOr(left, search_key(cur, depth + 1))
    if name == "MODSEQ":
        return _modseq(cur)
    raise cur.fail(f"unknown search key {name[:40]}")


def _modseq(cur: Cursor) -> c.KeyModSeq:
    """RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer."""
    if cur.peek() == ord('"'):
        cur.quoted()
        cur.sp()
        kind = cur.atom("entry type").lower()
        if kind not in ("priv", "shared", "all"):
            raise cur.fail("invalid MODSEQ entry type")
        cur.sp()
    return c.KeyModSeq(cur.number(limit=(1 << 63) - 1))


def sort_criteria(cur: Cursor) -> tuple[tuple[str, bool], ...]:
    """RFC 5256 "sort-criteria" = "(" sort-criterion *(SP sort-criterion) ")"."""
    cur.expect(b"(")
    out: list[tuple[str, bool]] = []
    while True:
        name = cur.atom("sort key").upper()
        reverse = False
        if name == "REVERSE":
            cur.sp()
            reverse = True
            name = cur.atom("sort key").upper()
        if name not in SORT_KEYS:
            raise cur.fail(f"unknown sort key {name[:40]}")
        out.append((name, reverse))
        if cur.take(b")"):
            return tuple(out)
        cur.sp()
