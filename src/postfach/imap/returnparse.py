"""SEARCH and SORT result options: RFC 4731 ESEARCH (MIN MAX ALL COUNT), RFC 5182
SAVE, RFC 5267 ESORT, UPDATE and CONTEXT (and its CANCELUPDATE command) and RFC
9394 PARTIAL (`1:100` from the first, `-1:-100` from the last); and the parts of
an RFC 4469 CATENATE, the other list-valued argument the extensions add."""

from __future__ import annotations

import re

from postfach.imap import commands as c
from postfach.imap.grammar import MAX_NUMBER
from postfach.imap.lexer import Cursor

__all__ = [
    "RETURN_OPTIONS",
    "catenate_parts",
    "optional_return",
    "p_cancelupdate",
    "return_options",
]

RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE", "PARTIAL", "UPDATE", "CONTEXT"})
_RANGE = re.compile(r"(-?)([1-9][0-9]{0,9}):(-?)([1-9][0-9]{0,9})")


def optional_return(cur: Cursor) -> tuple[tuple[str, ...] | None, tuple[int, int] | None]:
    """[RETURN SP "(" ... ")" SP] before a search or sort program: (None, None) without."""
    if not cur.take(b"RETURN "):
        return None, None
    opts, partial = return_options(cur)
    cur.sp()
    return opts, partial


def return_options(cur: Cursor) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """RETURN SP "(" [option *(SP option)] ")", after RETURN SP; PARTIAL takes a range."""
    opts: list[str] = []
    partial: tuple[int, int] | None = None
    cur.expect(b"(")
    while not cur.take(b")"):
        if opts:
            cur.sp()
        opt = cur.atom("return option").upper()
        if opt not in RETURN_OPTIONS:
            raise cur.fail(f"unknown search return option {opt[:40]}")
        if opt in opts:
            raise cur.fail(f"return option {opt} given twice")
        if opt == "PARTIAL":
            cur.sp()
            partial = _range(cur)
        opts.append(opt)
    if "PARTIAL" in opts and "ALL" in opts:
        raise cur.fail("PARTIAL and ALL cannot be combined")
    if "PARTIAL" in opts and "UPDATE" in opts:
        raise cur.fail("PARTIAL results are not kept updated")
    return tuple(opts), partial


def p_cancelupdate(cur: Cursor, uid: bool) -> c.CancelUpdate:
    """RFC 5267 §5 "CANCELUPDATE" 1*(SP quoted): the tags of the contexts to end."""
    tags: list[str] = []
    while cur.take(b" "):
        if cur.peek() != ord('"'):
            raise cur.fail("CANCELUPDATE takes quoted tags")
        tags.append(cur.quoted().decode("utf-8", "replace"))
    if not tags:
        raise cur.fail("CANCELUPDATE needs a tag")
    return c.CancelUpdate(cur.tag or "", tuple(tags))


def _range(cur: Cursor) -> tuple[int, int]:
    """RFC 9394 partial-range: both ends from the first message, or both (negative)
    from the last; the end nearer to its side comes first (500:400 is 400:500)."""
    match = _RANGE.fullmatch(cur.atom("partial range"))
    if match is None or match.group(1) != match.group(3):
        raise cur.fail("invalid partial range")
    a, b = int(match.group(2)), int(match.group(4))
    if max(a, b) > MAX_NUMBER:
        raise cur.fail("invalid partial range")
    a, b = min(a, b), max(a, b)
    return (-a, -b) if match.group(1) else (a, b)


def catenate_parts(cur: Cursor) -> tuple[c.CatPart, ...]:
    """RFC 4469: "(" cat-part *(SP cat-part) ")", after CATENATE SP; the URLs are
    read by the APPEND handler, which alone can look them up."""
    cur.expect(b"(")
    parts: list[c.CatPart] = []
    while True:
        kind = cur.atom("TEXT or URL").upper()
        cur.sp()
        if kind == "TEXT":
            if cur.peek() not in (ord("{"), ord("~")):
                raise cur.fail("TEXT needs a literal")
            parts.append(c.CatPart(text=cur.literal()))
        elif kind == "URL":
            parts.append(c.CatPart(url=cur.astring_bytes().decode("utf-8", "replace")))
        else:
            raise cur.fail(f"unknown catenate part {kind[:40]}")
        if cur.take(b")"):
            return tuple(parts)
        cur.sp()
