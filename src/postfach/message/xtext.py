"""RFC 3461 §4 xtext: how ENVID and ORCPT values travel in SMTP parameters.

The SMTP parser decodes what clients send; the queue's client encodes what
postfach relays. Both use these two functions, so neither imports the other.
"""

from __future__ import annotations

import re

__all__ = ["xtext_decode", "xtext_encode"]

_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")


def xtext_decode(value: str) -> str:
    """The text behind an xtext; ValueError when `value` is not xtext."""
    if not value.isascii() or not _XTEXT.fullmatch(value):
        raise ValueError("not xtext")
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def xtext_encode(value: str) -> str:
    return "".join(
        c if 0x21 <= ord(c) <= 0x7E and c not in "+=" else f"+{b:02X}"
        for c in value
        for b in ([ord(c)] if ord(c) < 0x80 else c.encode("utf-8"))
    )
