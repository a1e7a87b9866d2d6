"""Header sections of messages and MIME parts: scanning, lookup, decoding, writing.

This module owns the one scanner that decides where a header section ends
(RFC 5322 §2.1, §2.2, §3.5): a run of header fields, each possibly folded
(§2.2.3), then an empty line. It is lenient the way delivered mail needs:

- bare LF line ends are accepted everywhere CRLF is;
- a field name is any run of bytes other than space, tab, CR, LF and colon, so
  8-bit junk or NUL bytes do not end the header; obsolete space before the colon is
  allowed (RFC 5322 §4.5.3);
- a line that is neither a field nor a continuation ends the header without an
  empty line (the "missing blank line" case): the body starts at that line.

It also decodes RFC 2047 encoded words for search text and writes the trace
fields (Return-Path, Delivered-To, Received; RFC 5321 §4.4) that the store puts
in front of a shared message blob.
"""

from __future__ import annotations

import binascii
import codecs
import re
from typing import NamedTuple

__all__ = [
    "Field",
    "base64_lenient",
    "decode_charset",
    "decode_words",
    "first_values",
    "fold_field",
    "header_value",
    "scan_header",
    "trace_prefix",
    "unfold",
]

# RFC 5322 §3.6.8 field-name (leniently: any byte but WSP, CR, LF and ":"), then the
# unstructured rest of the line and any continuation lines (§2.2.3).
_FIELD = re.compile(rb"([^ \t\r\n:]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)\n?")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_WSP = b" \t\r\n"
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


class Field(NamedTuple):
    """One header field: lower-cased name, raw value after the colon (folding
    kept, final line end dropped) and its byte range, final line end included."""

    name: bytes
    value: bytes
    start: int
    end: int


def scan_header(raw: bytes, start: int = 0, end: int | None = None) -> tuple[list[Field], int]:
    """Scans the header section of raw[start:end].

    Returns the fields and the offset where the body begins: just after the empty
    line, or at the first line that is no header field when that line is missing.
    """
    stop = len(raw) if end is None else end
    fields: list[Field] = []
    pos = start
    match = _FIELD.match
    m = match(raw, pos, stop)
    while m is not None and m.end() > pos:
        fields.append(Field(m.group(1).lower(), m.group(2), pos, m.end()))
        pos = m.end()
        m = match(raw, pos, stop)
    if raw.startswith(b"\r\n", pos, stop):
        return fields, pos + 2
    if raw.startswith(b"\n", pos, stop):
        return fields, pos + 1
    return fields, pos


def first_values(fields: list[Field]) -> dict[bytes, bytes]:
    """Maps each field name to the raw value of its first occurrence."""
    values: dict[bytes, bytes] = {}
    for f in fields:
        if f.name not in values:
            values[f.name] = f.value
    return values


def unfold(value: bytes) -> bytes:
    """RFC 5322 §2.2.3 unfolding: drops each line break before WSP, then trims WSP."""
    if b"\n" in value:
        value = _FOLD.sub(b"", value)
    return value.strip(_WSP)


def header_value(raw: bytes | memoryview, name: str, prefix: bytes = b"") -> list[bytes]:
    """Every value of header field `name` (case-insensitive) in the top-level
    header of prefix + raw, unfolded and trimmed: RFC 9051 §6.4.4 SEARCH HEADER."""
    key = name.lower().encode("utf-8", "replace")
    out: list[bytes] = []
    for blob in (prefix, raw):
        data = bytes(blob) if isinstance(blob, memoryview) else blob
        fields, _ = scan_header(data)
        out.extend(unfold(f.value) for f in fields if f.name == key)
    return out


# -- RFC 2047 encoded words -------------------------------------------------

_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word(charset: str, kind: str, text: str) -> str:
    data = text.encode("ascii", "replace")
    if kind in "bB":
        data = base64_lenient(data)
    else:
        data = binascii.a2b_qp(data, header=True)
    return decode_charset(data, charset.split("*", 1)[0])  # RFC 2231 §5 language suffix


def base64_lenient(data: bytes) -> bytes:
    """Lenient base64 (RFC 2045 §6.8): characters outside the alphabet are
    ignored and a missing "=" padding is supplied. Never raises."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    data = _B64_JUNK.sub(b"", data)
    cut = len(data) % 4
    data = data[: len(data) - 1] if cut == 1 else data + b"=" * ((4 - cut) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # pragma: no cover - cleaned input always decodes
        return b""


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: reads each undecodable byte as Latin-1."""
    if isinstance(err, UnicodeDecodeError):
        return bytes(err.object[err.start : err.end]).decode("latin-1"), err.end
    raise err


codecs.register_error("postfach.latin1", _latin1_fallback)
_LENIENT = "postfach.latin1"


def decode_charset(data: bytes, charset: str | None) -> str:
    """Decodes text in a MIME charset. Never raises.

    UTF-8, US-ASCII and unknown charsets read as UTF-8 with stray 8-bit bytes
    taken as Latin-1 (so "J\\xfcrgen" stays legible); others replace bad bytes.
    """
    name = (charset or "utf-8").strip().strip('"').lower()
    if name in ("us-ascii", "ascii", "utf-8", "utf8", ""):
        return data.decode("utf-8", _LENIENT)
    try:
        return data.decode(name, "replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", _LENIENT)


def decode_words(raw: bytes) -> str:
    """Human text of a header value: unfolded, 8-bit read as UTF-8 (RFC 6532; bytes
    that are not UTF-8 as Latin-1),
    RFC 2047 encoded words decoded, whitespace between adjacent words dropped."""
    text = unfold(raw).decode("utf-8", _LENIENT)
    if "=?" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(text):
        gap = text[pos : m.start()]
        if not out or gap.strip(" \t\r\n"):
            out.append(gap)
        out.append(_decode_word(m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# -- writing trace fields -----------------------------------------------------


def fold_field(name: str, value: str, width: int = 78) -> bytes:
    """One header field `name: value` with CRLF, folded before whitespace so that
    lines stay within `width` where words allow (RFC 5322 §2.1.1, §2.2.3).

    Runs of whitespace, CR and LF in `value` collapse to one space, so a value can
    never inject another field.
    """
    line = name + ":"
    lines: list[str] = []
    for word in value.split():
        if len(line) + 1 + len(word) > width and line.strip() not in ("", name + ":"):
            lines.append(line)
            line = "\t" + word
        else:
            line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def trace_prefix(return_path: str, delivered_to: str, received: str | None = None) -> bytes:
    """The per-recipient trace lines put in front of a shared blob at final
    delivery: ``Return-Path: <rp>`` (RFC 5321 §4.4; "<>" for the null sender),
    ``Delivered-To:`` and, when given, one folded ``Received:`` field."""
    path = " ".join(return_path.split()).strip("<>")
    out = fold_field("Return-Path", f"<{path}>")
    out += fold_field("Delivered-To", delivered_to)
    if received:
        out += fold_field("Received", received)
    return out
