"""IMAP FETCH body sections over a raw blob and its parsed tree.

RFC 3501 §6.4.5 / RFC 9051 §6.4.5 BODY[<section>] and RFC 3516 BINARY[].

**The served message is prefix + blob.** The store keeps one blob per message
and, per recipient, a `prefix` of trace fields (see `headers.trace_prefix`)
that belongs in front of it. `ParsedMessage` offsets index the blob alone;
`section_bytes` takes the prefix and answers as if the message were
``prefix + blob``: the top-level header is prefix + the blob's header, so
BODY[], BODY[HEADER], BODY[HEADER.FIELDS (…)] and, for a single-part message,
BODY[1.MIME] include the prefix; every other section is unaffected. The size
of the served message is ``len(prefix) + len(blob)``.

**Missing sections.** `section_bytes` returns None when the part does not exist,
or when HEADER/TEXT/HEADER.FIELDS is asked of a part that is not a
message/rfc822 (or message/global), or MIME of the top level. The IMAP layer
answers such a section with NIL (as Dovecot does); an existing empty section
is b"", never None.
"""

from __future__ import annotations

from postfach.message.decode import decode_transfer
from postfach.message.headers import scan_header
from postfach.message.model import BodyPart, ParsedMessage

__all__ = ["SPECS", "decode_part_body", "find_part", "section_bytes"]

SPECS = frozenset({None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})

Blob = bytes | memoryview


def find_part(parsed: ParsedMessage, part: tuple[int, ...]) -> BodyPart | None:
    """The body part a section part number names (RFC 9051 §6.4.5), or None.

    Part 1 of a non-multipart message is its body; numbers below a
    message/rfc822 part index the parts of the embedded message; () is the
    top-level body.
    """
    current = parsed.body  # the body whose parts the next number indexes
    node: BodyPart | None = None
    for number in part:
        if node is not None:
            if node.message is not None:
                current = node.message[1]
            elif node.parts:
                current = node
            else:
                return None
        if current.parts:
            node = current.parts[number - 1] if 1 <= number <= len(current.parts) else None
        else:
            node = current if number == 1 else None
        if node is None:
            return None
    return parsed.body if node is None else node


def _slice(raw: Blob, start: int, end: int) -> bytes:
    return bytes(raw[start:end])


def _header(raw: Blob, body: BodyPart, prefix: bytes, top: BodyPart) -> bytes:
    """The header section of `body`, with the prefix in front for the top level."""
    head = _slice(raw, body.header_start, body.header_end)
    return prefix + head if body is top else head


def _select_fields(header: bytes, names: tuple[str, ...], keep: bool) -> bytes:
    """RFC 9051 §6.4.5 HEADER.FIELDS / .NOT: the matching (or other) fields in
    their original order and folding, then the empty line."""
    wanted = {n.lower().encode("utf-8", "replace") for n in names}
    fields, _ = scan_header(header)
    out = bytearray()
    for f in fields:
        if (f.name in wanted) == keep:
            out += header[f.start : f.end]
            if not header.endswith(b"\n", f.start, f.end):
                out += b"\r\n"
    out += b"\r\n"
    return bytes(out)


def _message_section(
    raw: Blob,
    body: BodyPart,
    spec: str | None,
    fields: tuple[str, ...],
    prefix: bytes,
    top: BodyPart,
) -> bytes | None:
    """A section of a message whose body (header included) is `body`."""
    if spec is None:
        whole = _slice(raw, body.header_start, body.body_end)
        return prefix + whole if body is top else whole
    if spec == "TEXT":
        return _slice(raw, body.header_end, body.body_end)
    if spec == "HEADER":
        return _header(raw, body, prefix, top)
    if spec in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return _select_fields(_header(raw, body, prefix, top), fields, spec == "HEADER.FIELDS")
    return None


def section_bytes(
    raw: Blob,
    parsed: ParsedMessage,
    part: tuple[int, ...],
    spec: str | None,
    fields: tuple[str, ...] = (),
    prefix: bytes = b"",
) -> bytes | None:
    """BODY[<part>.<spec>] of the message prefix + raw; None when it does not exist.

    `spec` is None (the part's body, or the whole message for part ()),
    "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME"; `fields`
    are the names for HEADER.FIELDS[.NOT], matched case-insensitively.
    Partial fetches (``<offset.length>``) are the caller's slice of the result.
    """
    top = parsed.body
    if not part:
        return _message_section(raw, top, spec, fields, prefix, top)
    node = find_part(parsed, part)
    if node is None or spec not in SPECS:
        return None
    if spec is None:
        return _slice(raw, node.header_end, node.body_end)
    if spec == "MIME":
        return _header(raw, node, prefix, top)
    if node.message is None:
        return None
    return _message_section(raw, node.message[1], spec, fields, prefix, top)


def decode_part_body(raw: Blob, part: BodyPart, strict: bool = False) -> bytes | None:
    """RFC 3516 BINARY[<part>]: the part's body with its Content-Transfer-Encoding
    undone; None for an unknown encoding (answer ``NO [UNKNOWN-CTE]``); `strict`
    raises `decode.InvalidEncoding` for content its encoding does not allow.

    For BINARY[] (the whole message) serve ``section_bytes(..., (), None)``.
    """
    return decode_transfer(_slice(raw, part.header_end, part.body_end), part.encoding, strict)
