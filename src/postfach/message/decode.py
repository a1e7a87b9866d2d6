"""Content decoding: transfer encodings (RFC 2045 §6) and the search text.

`decode_transfer` undoes a Content-Transfer-Encoding and is what IMAP BINARY
(RFC 3516) serves. `body_search_text` turns the text parts of a parsed tree into
human text for SEARCH BODY/TEXT: transfer-decoded, charset-decoded, HTML tags
roughly stripped, capped at `SEARCH_CAP` characters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from postfach.message.headers import base64_lenient, decode_charset
from postfach.message.model import BodyPart
from postfach.message.params import param_value

__all__ = [
    "IDENTITY_ENCODINGS",
    "InvalidEncoding",
    "KNOWN_ENCODINGS",
    "SEARCH_CAP",
    "body_search_text",
    "decode_quoted_printable",
    "decode_transfer",
]

SEARCH_CAP = 256 * 1024
IDENTITY_ENCODINGS = frozenset({"7BIT", "8BIT", "BINARY"})
KNOWN_ENCODINGS = IDENTITY_ENCODINGS | {"BASE64", "QUOTED-PRINTABLE"}
_HTML_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_HTML_TAG = re.compile(r"<[^>]*>")


def decode_transfer(data: bytes, encoding: str, strict: bool = False) -> bytes | None:
    """The octets behind a Content-Transfer-Encoding; None for an unknown one
    (IMAP then answers ``NO [UNKNOWN-CTE]``, RFC 3516 §4.3). `strict`: invalid
    quoted-printable raises InvalidEncoding instead of being read leniently."""
    if encoding in IDENTITY_ENCODINGS:
        return data
    if encoding == "BASE64":
        return base64_lenient(data)
    if encoding == "QUOTED-PRINTABLE":
        return decode_quoted_printable(data, strict)
    return None


_QP_LINE = re.compile(rb"([^\n]*?)[ \t]*(\r?\n|\Z)")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
# what is left of a line once its escapes are gone: an "=" or a CR there is invalid
_QP_STRAY = re.compile(rb"=|\r")


class InvalidEncoding(ValueError):
    """Content that its Content-Transfer-Encoding does not allow (strict decoding)."""


def _qp_octet(match: re.Match[bytes]) -> bytes:
    return bytes((int(match.group(1), 16),))


def decode_quoted_printable(data: bytes, strict: bool = False) -> bytes:
    """RFC 2045 §6.7: white space at a line's end is transport padding and goes,
    so "=" followed only by white space is a soft line break; a hard line break
    is CRLF. An "=" that starts no valid escape, or a bare CR, stays as it is
    (rule 1, robust decoding), or with `strict` raises InvalidEncoding, which
    IMAP BINARY answers with NO [PARSE] as Dovecot does."""
    out: list[bytes] = []
    for match in _QP_LINE.finditer(data):
        line, ending = match.group(1), match.group(2)
        soft = line.endswith(b"=")
        if soft:
            line = line[:-1]
        if strict and _QP_STRAY.search(_QP_ESCAPE.sub(b"", line)):
            raise InvalidEncoding("invalid quoted-printable data")
        decoded = _QP_ESCAPE.sub(_qp_octet, line)
        if soft:
            out.append(decoded)
        elif line or ending:
            out.append(decoded + (b"\r\n" if ending else b""))
    return b"".join(out)


def _text_leaves(part: BodyPart) -> Iterator[BodyPart]:
    """text/* leaves in order, descending into multiparts and embedded messages."""
    if part.parts:
        for child in part.parts:
            yield from _text_leaves(child)
    elif part.message is not None:
        yield from _text_leaves(part.message[1])
    elif part.type == "text":
        yield part


def html_to_text(text: str) -> str:
    """Rough HTML to text: drops scripts, styles, comments and tags; unescapes."""
    text = _HTML_TAG.sub(" ", _HTML_DROP.sub(" ", text))
    return " ".join(html.unescape(text).split())


def part_text(raw: bytes, part: BodyPart, limit: int = SEARCH_CAP) -> str:
    """Decoded text of one text/* leaf, reading at most about `limit` chars."""
    end = min(part.body_end, part.header_end + 4 * limit + 4)
    data = raw[part.header_end : end]
    decoded = decode_transfer(data, part.encoding)
    text = decode_charset(data if decoded is None else decoded, param_value(part.params, "charset"))
    if part.subtype == "html":
        text = html_to_text(text)
    return text[:limit]


def body_search_text(raw: bytes, body: BodyPart, cap: int = SEARCH_CAP) -> str:
    """Text of every text/* part, joined by newlines, at most `cap` chars."""
    out: list[str] = []
    left = cap
    for leaf in _text_leaves(body):
        if left <= 0:
            break
        text = part_text(raw, leaf, left)
        out.append(text)
        left -= len(text) + 1
    return "\n".join(out)[:cap]
