"""MIME header field values: Content-Type, Content-Disposition and their parameters.

RFC 2045 §5.1 (Content-Type syntax), RFC 2183 (Content-Disposition), RFC 2231
(parameter value continuations, charsets and languages).

Parameters are kept close to what the message says, as IMAP BODYSTRUCTURE
passes them on: names are lower-cased, quoted strings unquoted, and RFC 2231
continuations (``name*0``, ``name*1*``…) merged into one parameter. A merged
or single extended parameter keeps the RFC 2231 form, name ``name*`` and value
``charset'language'percent-encoded`` (as Dovecot does), so every value stays
7-bit and exact; `param_value` decodes it.

Header bytes become `str` as UTF-8 with ``surrogateescape``: ``s.encode("utf-8",
"surrogateescape")`` gives back the exact bytes.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

from postfach.message.headers import decode_charset, unfold

__all__ = ["Params", "content_type", "disposition", "param_value", "strip_comments", "to_str"]

Params = tuple[tuple[str, str], ...]

_COMMENT = re.compile(rb"\((?:[^()\\]|\\.)*\)", re.S)
_TYPE = re.compile(rb"[ \t]*([^\s/;()]+)[ \t]*/[ \t]*([^\s;()]+)")
_TOKEN = re.compile(rb"[ \t]*([^\s;()]+)")
_PARAM = re.compile(rb';[ \t]*([^\s=;"]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"?|([^;\s]*))', re.S)
_SECTION = re.compile(r"(.+?)\*(\d{1,3})")
_QUOTED_PAIR = re.compile(rb"\\(.)", re.S)


def to_str(raw: bytes) -> str:
    """Header bytes as str, exact through ``surrogateescape``."""
    return raw.decode("utf-8", "surrogateescape")


def _raw_params(value: bytes, start: int) -> list[tuple[str, str, bool]]:
    """(name, value, was-quoted) for each ``; name=value`` after `start`."""
    out: list[tuple[str, str, bool]] = []
    for m in _PARAM.finditer(value, start):
        quoted = m.group(2)
        text = _QUOTED_PAIR.sub(rb"\1", quoted) if quoted is not None else m.group(3)
        out.append((to_str(m.group(1)).lower(), to_str(text), quoted is not None))
    return out


def _merge_2231(raw: list[tuple[str, str, bool]]) -> Params:
    """RFC 2231 §3-4: joins continuations; first occurrence of a name wins."""
    order: list[str] = []
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, value, _quoted in raw:
        extended = name.endswith("*")
        base = name[:-1] if extended else name
        m = _SECTION.fullmatch(base)
        if m is None:
            key = base + "*" if extended else base
            if key not in plain and base not in sections:
                order.append(key)
                plain[key] = value
            continue
        base = m.group(1)
        if base not in sections:
            if base in plain or base + "*" in plain:
                continue
            order.append(base)
            sections[base] = {}
        sections[base].setdefault(int(m.group(2)), (value, extended))
    out: list[tuple[str, str]] = []
    for key in order:
        if key in plain:
            out.append((key, plain[key]))
        else:
            out.append(_join_sections(key, sections[key]))
    return tuple(out)


def _join_sections(base: str, parts: dict[int, tuple[str, bool]]) -> tuple[str, str]:
    chunks: list[tuple[str, bool]] = []
    index = 0
    while index in parts:
        chunks.append(parts[index])
        index += 1
    if not chunks:  # no section 0: keep what there is, in number order
        chunks = [parts[i] for i in sorted(parts)]
    if not chunks[0][1]:
        return base, "".join(text for text, _ in chunks)
    encoded = [
        text if ext else quote(text, safe="!#$&+-.^_`|~", errors="surrogateescape")
        for text, ext in chunks
    ]
    return base + "*", "".join(encoded)


def content_type(value: bytes | None) -> tuple[str, str, Params] | None:
    """(type, subtype, params) of a Content-Type value, lower-cased type names;
    None when absent or unparsable (the caller applies RFC 2045 §5.2 defaults)."""
    if value is None:
        return None
    value = unfold(value)
    m = _TYPE.match(value)
    if m is None:
        return None
    params = _merge_2231(_raw_params(value, m.end()))
    return to_str(m.group(1)).lower(), to_str(m.group(2)).lower(), params


def disposition(value: bytes | None) -> tuple[str, Params] | None:
    """RFC 2183 disposition type (lower-cased) and parameters, or None."""
    if value is None:
        return None
    value = unfold(value)
    m = _TOKEN.match(value)
    if m is None or m.group(1).startswith(b"="):
        return None
    return to_str(m.group(1)).lower(), _merge_2231(_raw_params(value, m.end()))


def strip_comments(value: bytes) -> bytes:
    """Removes RFC 5322 §3.2.2 comments (one nesting level) and trims."""
    if b"(" in value:
        value = _COMMENT.sub(b"", value)
    return value.strip(b" \t\r\n")


def param_value(params: Params, name: str) -> str | None:
    """Decoded value of parameter `name`, plain or RFC 2231 extended (``name*``)."""
    for key, value in params:
        if key == name:
            return value
        if key == name + "*":
            return _decode_2231(value)
    return None


def _decode_2231(value: str) -> str:
    """RFC 2231 §4 ``charset'language'%XX`` to text; without quotes, as given."""
    charset, sep, rest = value.partition("'")
    if not sep:
        return value
    _lang, sep, encoded = rest.partition("'")
    if not sep:
        return value
    return decode_charset(
        unquote_to_bytes(encoded.encode("utf-8", "surrogateescape")), charset or "us-ascii"
    )
