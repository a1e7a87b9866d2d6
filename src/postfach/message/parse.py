"""Parse a message once, at delivery: RFC 5322 header, MIME tree, search text.

`parse_message` walks the raw bytes with offsets (no copies of part bodies) and
returns a `ParsedMessage`: the IMAP ENVELOPE (RFC 9051 §7.5.2), the body tree
with BODYSTRUCTURE fields (RFC 9051 §7.5.2, RFC 2045-2046, 2183, 3066/2557
fields) and the byte range of every part's header and body, the Date as Unix
time, and decoded search text.

It never raises. Broken input is read as far as it goes:

- no Content-Type, or one without "/": text/plain; charset=us-ascii
  (RFC 2045 §5.2); a text/* part without charset gets ``charset=us-ascii``
  added (RFC 2046 §4.1.2), as Dovecot reports it;
- a multipart without a boundary parameter is read as that text/plain;
- a boundary never closed: the last part runs to the end of its parent;
- a multipart with no part found gets one empty text/plain part at its end,
  since BODYSTRUCTURE requires at least one (Dovecot does the same);
- nesting deeper than `MAX_DEPTH`, or more than `MAX_PARTS` parts, is not
  descended into;
- ``lines`` counts text lines: LFs, plus one for a last line without LF.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz

from postfach.message.address import parse_address_list, search_text_of
from postfach.message.decode import IDENTITY_ENCODINGS, body_search_text
from postfach.message.headers import Field, decode_words, first_values, scan_header, unfold
from postfach.message.model import Address, BodyPart, Envelope, ParsedMessage, SearchText
from postfach.message.params import (
    Params,
    content_type,
    disposition,
    param_value,
    strip_comments,
    to_str,
)
from postfach.message.searchhead import head_search_text

__all__ = [
    "Address",
    "BodyPart",
    "Envelope",
    "ParsedMessage",
    "SearchText",
    "parse_message",
]

MAX_DEPTH = 40
MAX_PARTS = 5000
_US_ASCII: Params = (("charset", "us-ascii"),)
_TEXT_PLAIN = ("text", "plain")
_DIGEST_DEFAULT = ("message", "rfc822")
_MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})


@dataclass(slots=True)
class _Walk:
    """Mutable state of one parse: the raw bytes and the part budget."""

    raw: bytes
    parts_left: int = MAX_PARTS


def parse_message(raw: bytes) -> ParsedMessage:
    """Parses a whole message. Never raises; see the module docstring."""
    try:
        return _parse(raw)
    except Exception:  # last line of defence: delivery must not fail
        return _fallback(raw)


def _parse(raw: bytes) -> ParsedMessage:
    walk = _Walk(raw)
    fields, body_start = scan_header(raw, 0, len(raw))
    first = first_values(fields)
    envelope, body = _message(walk, first, 0, body_start, len(raw), 0)
    search = _search_text(raw, fields, first, envelope, body)
    return ParsedMessage(envelope, body, body_start, _unix_date(first.get(b"date")), search)


def _fallback(raw: bytes) -> ParsedMessage:
    """The whole input as one text/plain body: used only if parsing failed."""
    empty = Envelope(None, None, None, None, None, None, None, None, None, None)
    body = _plain(0, 0, len(raw), _count_lines(raw, 0, len(raw)))
    return ParsedMessage(empty, body, 0, None, SearchText("", "", "", "", "", ""))


# -- envelope -------------------------------------------------------------------


def _text(first: dict[bytes, bytes], name: bytes) -> bytes | None:
    value = first.get(name)
    return None if value is None else unfold(value)


def _envelope(first: dict[bytes, bytes]) -> Envelope:
    """RFC 9051 §7.5.2: sender and reply-to default to from when absent or empty."""
    from_ = parse_address_list(first.get(b"from"))
    sender = parse_address_list(first.get(b"sender")) or from_
    reply_to = parse_address_list(first.get(b"reply-to")) or from_
    return Envelope(
        _text(first, b"date"),
        _text(first, b"subject"),
        from_,
        sender,
        reply_to,
        parse_address_list(first.get(b"to")),
        parse_address_list(first.get(b"cc")),
        parse_address_list(first.get(b"bcc")),
        _text(first, b"in-reply-to"),
        _text(first, b"message-id"),
    )


def _unix_date(value: bytes | None) -> float | None:
    """RFC 5322 §3.3 date-time as Unix time; None when absent or unreadable."""
    if value is None:
        return None
    try:
        parsed = parsedate_tz(unfold(value).decode("ascii", "replace"))
        return None if parsed is None else float(mktime_tz(parsed))
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


def _search_text(
    raw: bytes, fields: list[Field], first: dict[bytes, bytes], envelope: Envelope, body: BodyPart
) -> SearchText:
    def words(name: bytes) -> str:
        value = first.get(name)
        return "" if value is None else decode_words(value)

    # The envelope's lists and the scanned header: each parsed once.
    from_, to = search_text_of(envelope.from_), search_text_of(envelope.to)
    cc, bcc = search_text_of(envelope.cc), search_text_of(envelope.bcc)
    head = head_search_text(raw, body.header_end, body, (from_, to, cc, bcc), fields)
    return SearchText(from_, to, cc, bcc, words(b"subject"), body_search_text(raw, body), head)


# -- MIME tree ------------------------------------------------------------------


def _message(
    walk: _Walk, first: dict[bytes, bytes], start: int, body: int, end: int, depth: int
) -> tuple[Envelope, BodyPart]:
    """A message whose header raw[start:body] is already scanned."""
    return _envelope(first), _part(walk, first, (start, body, end), _TEXT_PLAIN, depth)


def _count_lines(raw: bytes, start: int, end: int) -> int:
    if start >= end:
        return 0
    return raw.count(b"\n", start, end) + (raw[end - 1] != 0x0A)


def _plain(start: int, body: int, end: int, lines: int) -> BodyPart:
    """A text/plain; charset=us-ascii part with no other fields."""
    return BodyPart(
        "text",
        "plain",
        _US_ASCII,
        None,
        None,
        "7BIT",
        end - body,
        lines,
        None,
        None,
        None,
        None,
        start,
        body,
        end,
    )


def _content_type(first: dict[bytes, bytes], default: tuple[str, str]) -> tuple[str, str, Params]:
    parsed = content_type(first.get(b"content-type"))
    if parsed is None:
        return (*default, _US_ASCII if default == _TEXT_PLAIN else ())
    typ, sub, params = parsed
    if typ == "multipart" and not param_value(params, "boundary"):
        return (*_TEXT_PLAIN, _US_ASCII)
    if typ == "text" and all(k not in ("charset", "charset*") for k, _ in params):
        params += _US_ASCII
    return typ, sub, params


def _optional(first: dict[bytes, bytes], name: bytes) -> str | None:
    value = first.get(name)
    if value is None:
        return None
    return to_str(unfold(value)) or None


def _language(value: bytes | None) -> tuple[str, ...] | None:
    """RFC 3282 Content-Language: comma-separated tags."""
    if value is None:
        return None
    tags = [to_str(t.strip()) for t in strip_comments(unfold(value)).split(b",")]
    return tuple(t for t in tags if t) or None


def _encoding(value: bytes | None) -> str:
    """RFC 2045 §6.1 mechanism, upper-cased; 7BIT when absent or empty."""
    if value is None:
        return "7BIT"
    return to_str(strip_comments(unfold(value))).upper() or "7BIT"


def _part(
    walk: _Walk,
    first: dict[bytes, bytes],
    span: tuple[int, int, int],
    default: tuple[str, str],
    depth: int,
) -> BodyPart:
    """Builds a BodyPart for raw[start:end] whose header is already scanned."""
    start, body, end = span
    typ, sub, params = _content_type(first, default)
    enc = _encoding(first.get(b"content-transfer-encoding"))
    children: tuple[BodyPart, ...] = ()
    message: tuple[Envelope, BodyPart] | None = None
    if typ == "multipart":
        boundary = (param_value(params, "boundary") or "").encode("utf-8", "surrogateescape")
        children = _children(walk, body, end, boundary, sub == "digest", depth)
    elif typ == "message" and sub in _MESSAGE_SUBTYPES and enc in IDENTITY_ENCODINGS:
        message = _embedded(walk, body, end, depth)
    counted = typ == "text" or (typ == "message" and sub in _MESSAGE_SUBTYPES)
    return BodyPart(
        typ,
        sub,
        params,
        id=_optional(first, b"content-id"),
        description=_optional(first, b"content-description"),
        encoding=enc,
        size=end - body,
        lines=_count_lines(walk.raw, body, end) if counted else None,
        md5=_optional(first, b"content-md5"),
        disposition=disposition(first.get(b"content-disposition")),
        language=_language(first.get(b"content-language")),
        location=_optional(first, b"content-location"),
        header_start=start,
        header_end=body,
        body_end=end,
        parts=children,
        message=message,
    )


def _embedded(walk: _Walk, start: int, end: int, depth: int) -> tuple[Envelope, BodyPart] | None:
    """RFC 2046 §5.2.1 message/rfc822 (RFC 6532 §3.5 message/global) body."""
    if depth >= MAX_DEPTH:
        return None
    fields, body = scan_header(walk.raw, start, end)
    return _message(walk, first_values(fields), start, body, end, depth + 1)


def _children(
    walk: _Walk, start: int, end: int, boundary: bytes, digest: bool, depth: int
) -> tuple[BodyPart, ...]:
    """RFC 2046 §5.1.1 body parts of a multipart body raw[start:end]."""
    default = _DIGEST_DEFAULT if digest else _TEXT_PLAIN
    spans = split_multipart(walk.raw, start, end, boundary) if depth < MAX_DEPTH else []
    parts: list[BodyPart] = []
    for s, e in spans:
        if walk.parts_left <= 0:
            break
        walk.parts_left -= 1
        fields, body = scan_header(walk.raw, s, e)
        parts.append(_part(walk, first_values(fields), (s, body, e), default, depth + 1))
    if not parts:
        parts.append(_plain(end, end, end, 0))
    return tuple(parts)


def _delimiter_end(raw: bytes, pos: int, end: int) -> int:
    """After "--boundary" at pos: the offset after transport padding and the line
    end (RFC 2046 §5.1.1), or -1 when other text follows on the line."""
    while pos < end and raw[pos] in (0x20, 0x09):
        pos += 1
    if pos >= end:
        return end
    if raw[pos] == 0x0A:
        return pos + 1
    if raw[pos] == 0x0D and pos + 1 < end and raw[pos + 1] == 0x0A:
        return pos + 2
    return -1


def _line_break_before(raw: bytes, pos: int, floor: int) -> int:
    """The start of the CRLF (or LF) ending just before pos, not below floor."""
    if pos - 2 >= floor and raw[pos - 2 : pos] == b"\r\n":
        return pos - 2
    if pos - 1 >= floor and raw[pos - 1] == 0x0A:
        return pos - 1
    return pos


def split_multipart(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """(start, end) of each body part in raw[start:end].

    A delimiter is "--boundary" at a line start followed by "--" (close) or by
    optional blanks and a line end. The line break before a delimiter belongs to
    it (RFC 2046 §5.1.1), so it is not part of the preceding body part.
    """
    dash = b"--" + boundary
    spans: list[tuple[int, int]] = []
    part_start = -1
    pos = start
    while (i := raw.find(dash, pos, end)) >= 0:
        pos = i + 1
        if i > start and raw[i - 1] != 0x0A:
            continue
        after = i + len(dash)
        close = raw.startswith(b"--", after, end)
        next_start = end if close else _delimiter_end(raw, after, end)
        if next_start < 0:
            continue
        if part_start >= 0:
            spans.append((part_start, max(part_start, _line_break_before(raw, i, start))))
        if close:
            return spans
        part_start = pos = next_start
    if part_start >= 0:
        spans.append((part_start, end))
    return spans
