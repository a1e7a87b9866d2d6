"""Parsing of FETCH attributes (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 modifiers)."""

from __future__ import annotations

from postfach.imap import commands as c
from postfach.imap.lexer import Cursor

__all__ = ["fetch_args"]

_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE = frozenset(
    {
        "FLAGS",
        "UID",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "MODSEQ",
        "SAVEDATE",
        "EMAILID",
        "THREADID",
    }
)
_SECTION_TEXTS = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


def fetch_args(cur: Cursor, uid: bool) -> tuple[tuple[c.FetchAtt, ...], int | None, bool]:
    """fetch-att list or macro, then the optional (CHANGEDSINCE n [VANISHED]) modifiers."""
    items: list[c.FetchAtt] = []
    if cur.take(b"("):
        while True:
            items.extend(fetch_att(cur))
            if cur.take(b")"):
                break
            cur.sp()
    else:
        items.extend(fetch_att(cur, macros=True))
    changedsince: int | None = None
    vanished = False
    if cur.take(b" "):
        cur.expect(b"(")
        while True:
            name = cur.atom("fetch modifier").upper()
            if name == "CHANGEDSINCE":
                cur.sp()
                changedsince = cur.number(limit=(1 << 63) - 1)
            elif name == "VANISHED" and uid:
                vanished = True
            else:
                raise cur.fail(f"unknown fetch modifier {name[:40]}")
            if cur.take(b")"):
                break
            cur.sp()
        if vanished and changedsince is None:
            raise cur.fail("VANISHED needs CHANGEDSINCE")
    if uid and not any(i.name == "UID" for i in items):
        items.insert(0, c.FetchAtt("UID"))
    return tuple(items), changedsince, vanished


def fetch_att(cur: Cursor, macros: bool = False) -> list[c.FetchAtt]:
    raw = cur.run(frozenset(b" ()[\r\n"))
    name = raw.decode("ascii", "replace").upper()
    if macros and name in _MACROS:
        return [c.FetchAtt(n) for n in _MACROS[name]]
    if name in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        if cur.peek() != ord("["):
            if name == "BODY":
                return [c.FetchAtt("BODY")]
            raise cur.fail(f"{name} needs a section")
        section = _section(cur, binary=name.startswith("BINARY"))
        partial = _partial(cur) if name != "BINARY.SIZE" else None
        base = name.split(".PEEK")[0]
        return [c.FetchAtt(base, section, partial, peek=name.endswith(".PEEK"))]
    if name in _SIMPLE:
        return [c.FetchAtt(name)]
    raise cur.fail(f"unknown fetch attribute {name[:40] or repr(raw[:10])}")


def _section(cur: Cursor, binary: bool) -> c.Section:
    """section = "[" [section-spec] "]"; binary sections are part numbers only."""
    cur.expect(b"[")
    parts: list[int] = []
    text = ""
    fields: tuple[str, ...] = ()
    while cur.peek() != ord("]"):
        ch = cur.peek()
        if ord("1") <= ch <= ord("9"):
            parts.append(cur.digits(nonzero=True))
            if not cur.take(b"."):
                break
            continue
        if binary:
            raise cur.fail("BINARY takes part numbers only")
        text = next((t for t in _SECTION_TEXTS if cur.take(t.encode())), "")
        if not text or (text == "MIME" and not parts):
            raise cur.fail("invalid section")
        if text.startswith("HEADER.FIELDS"):
            cur.sp()
            fields = tuple(f.upper() for f in cur.paren_list(cur.astring))
            if not fields:
                raise cur.fail("empty header field list")
        break
    cur.expect(b"]")
    return c.Section(tuple(parts), text, fields)


def _partial(cur: Cursor) -> tuple[int, int] | None:
    """ "<" number "." nz-number ">"."""
    if not cur.take(b"<"):
        return None
    start = cur.digits()
    cur.expect(b".")
    length = cur.digits(nonzero=True)
    cur.expect(b">")
    return start, length
