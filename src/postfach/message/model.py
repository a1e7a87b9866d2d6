"""The parsed form of a message, as the store keeps it next to the raw bytes.

Records are frozen dataclasses; `ParsedMessage.to_json` / `from_json` give the
compact, exact text form the store saves (column ``parsed``).

JSON format (version 1) — positional lists, trailing nulls left out:

- message: ``[1, header_end, date, envelope, body]``; documents written before
  December 2026 carry a sixth element, the search text, which is read past
- envelope: ``[date, subject, from, sender, reply_to, to, cc, bcc, in_reply_to,
  message_id]``; an address list is null or a list of ``[name, mailbox, host]``
- body part: ``[header_start, header_end, body_end, type, subtype, params,
  encoding, lines, parts, message, id, description, md5, disposition, language,
  location]``; params flattened ``[k1, v1, k2, v2…]``; disposition
  ``[type, params]``; message ``[envelope, body]``; ``size`` is not stored, it is
  ``body_end - header_end``

The search text is not in it: the blob row keeps it case-folded (``s_from`` …
``s_body``) for SEARCH, and a second copy doubled the bytes each delivery wrote
and each FETCH read.

Bytes are stored as latin-1 text (one char per byte, exact); JSON escapes every
non-ASCII char, so the text is plain ASCII (store it as TEXT, not PostgreSQL
JSONB, which rejects NUL escapes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Address", "BodyPart", "Envelope", "ParsedMessage", "SearchText"]

JSON_VERSION = 1

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Address:
    """RFC 3501 §7.4.2 address: raw strings; (None, None, name, None) opens a
    group and (None, None, None, None) closes it. adl is an obs-route ("@route")."""

    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None


Addresses = tuple[Address, ...] | None


@dataclass(frozen=True, slots=True)
class Envelope:
    """RFC 9051 §7.5.2 ENVELOPE: raw unfolded header values, None when absent."""

    date: bytes | None
    subject: bytes | None
    from_: Addresses
    sender: Addresses
    reply_to: Addresses
    to: Addresses
    cc: Addresses
    bcc: Addresses
    in_reply_to: bytes | None
    message_id: bytes | None


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One MIME entity (RFC 2045) with BODYSTRUCTURE fields and byte offsets.

    Offsets index the raw blob the message was parsed from:
    ``header_start <= header_end <= body_end``; the header section (with its
    empty line) is raw[header_start:header_end], the body raw[header_end:body_end].
    A multipart has at least one part; ``message`` holds the embedded message of
    a message/rfc822 or message/global part whose encoding is 7BIT, 8BIT or BINARY.
    """

    type: str
    subtype: str
    params: Params
    id: str | None
    description: str | None
    encoding: str
    size: int
    lines: int | None
    md5: str | None
    disposition: tuple[str, Params] | None
    language: tuple[str, ...] | None
    location: str | None
    header_start: int
    header_end: int
    body_end: int
    parts: tuple[BodyPart, ...] = ()
    message: tuple[Envelope, BodyPart] | None = None

    @property
    def body_start(self) -> int:
        return self.header_end

    @property
    def is_multipart(self) -> bool:
        return bool(self.parts)


@dataclass(frozen=True, slots=True)
class SearchText:
    """Decoded human text for SEARCH; not case-folded. `head` is every header field
    and the attachment names (message/searchhead.py)."""

    from_: str
    to: str
    cc: str
    bcc: str
    subject: str
    body: str
    head: str = ""


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything FETCH and SEARCH need of one message blob."""

    envelope: Envelope
    body: BodyPart
    header_end: int
    date: float | None
    # Set by the parser, None once read back: the stored form leaves it out.
    search: SearchText | None = field(default=None, compare=False)

    def to_json(self) -> str:
        doc = [JSON_VERSION, self.header_end, self.date, _env_out(self.envelope)]
        doc.append(_part_out(self.body))
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ParsedMessage:
        """Inverse of `to_json` (the search text aside); raises ValueError on
        another format version."""
        doc = json.loads(text)
        if not isinstance(doc, list) or len(doc) not in (5, 6) or doc[0] != JSON_VERSION:
            raise ValueError("unsupported parsed-message format")
        header_end, date, env, body = doc[1:5]
        return cls(_env_in(env), _part_in(body), header_end, date)


# -- encoding -------------------------------------------------------------------


def _b(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _addrs_out(addrs: Addresses) -> list[list[str | None]] | None:
    if addrs is None:
        return None
    # [name, mailbox, host], with the adl fourth when there is one (rare: an obs-route)
    return [
        [_b(a.name), _b(a.mailbox), _b(a.host)] + ([_b(a.adl)] if a.adl is not None else [])
        for a in addrs
    ]


def _env_out(e: Envelope) -> list[Any]:
    lists = (e.from_, e.sender, e.reply_to, e.to, e.cc, e.bcc)
    return [_b(e.date), _b(e.subject), *map(_addrs_out, lists), _b(e.in_reply_to), _b(e.message_id)]


def _flat(params: Params) -> list[str]:
    return [item for pair in params for item in pair]


def _trim(doc: list[Any]) -> list[Any]:
    while doc and doc[-1] is None:
        doc.pop()
    return doc


def _part_out(p: BodyPart) -> list[Any]:
    disp = None if p.disposition is None else [p.disposition[0], _flat(p.disposition[1])]
    msg = None if p.message is None else [_env_out(p.message[0]), _part_out(p.message[1])]
    parts = [_part_out(c) for c in p.parts] or None
    lang = None if p.language is None else list(p.language)
    doc = [p.header_start, p.header_end, p.body_end, p.type, p.subtype, _flat(p.params)]
    doc += [p.encoding, p.lines, parts, msg, p.id, p.description, p.md5, disp, lang, p.location]
    return _trim(doc)


# -- decoding -------------------------------------------------------------------


def _ub(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1")


def _addrs_in(doc: list[list[str | None]] | None) -> Addresses:
    if doc is None:
        return None
    return tuple(
        Address(_ub(a[0]), _ub(a[3]) if len(a) > 3 else None, _ub(a[1]), _ub(a[2])) for a in doc
    )


def _env_in(doc: list[Any]) -> Envelope:
    d, s, f, snd, rt, to, cc, bcc, irt, mid = doc
    return Envelope(
        _ub(d),
        _ub(s),
        _addrs_in(f),
        _addrs_in(snd),
        _addrs_in(rt),
        _addrs_in(to),
        _addrs_in(cc),
        _addrs_in(bcc),
        _ub(irt),
        _ub(mid),
    )


def _pairs(flat: list[str]) -> Params:
    return tuple(zip(flat[::2], flat[1::2], strict=True))


def _part_in(doc: list[Any]) -> BodyPart:
    doc = doc + [None] * (16 - len(doc))
    hs, he, be, typ, sub, params, enc, lines, parts, msg, pid, desc, md5, disp, lang, loc = doc
    return BodyPart(
        type=typ,
        subtype=sub,
        params=_pairs(params),
        id=pid,
        description=desc,
        encoding=enc,
        size=be - he,
        lines=lines,
        md5=md5,
        disposition=None if disp is None else (disp[0], _pairs(disp[1])),
        language=None if lang is None else tuple(lang),
        location=loc,
        header_start=hs,
        header_end=he,
        body_end=be,
        parts=tuple(_part_in(c) for c in parts or ()),
        message=None if msg is None else (_env_in(msg[0]), _part_in(msg[1])),
    )
