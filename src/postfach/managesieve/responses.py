"""ManageSieve replies as bytes ready for the wire (RFC 5804 §1.3, §4).

A reply is OK, NO or BYE, an optional response code in parentheses and an
optional human-readable string. Strings go out quoted when they can be, and as
a literal `{n}` CRLF octets when they hold a quote's forbidden octets (CR, LF,
NUL) or are long (§4: quoted strings are at most 1024 octets).
"""

from __future__ import annotations

__all__ = [
    "SieveNo",
    "bye",
    "no",
    "ok",
    "quotable",
    "string",
]

MAX_QUOTED = 1024


class SieveNo(Exception):
    """A command failed; `reply` is its NO line. Caught in Session.handle."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.reply = no(text, code)


def quotable(data: bytes) -> bool:
    """Whether `data` may go out as a quoted string (§4)."""
    return len(data) <= MAX_QUOTED and not any(octet in data for octet in b"\r\n\x00")


def string(value: str | bytes) -> bytes:
    """A string as the grammar's `string`: quoted, or a literal when it must be."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if not quotable(data):
        return b"{%d}\r\n" % len(data) + data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _reply(word: bytes, text: str, code: str) -> bytes:
    parts = [word]
    if code:
        parts.append(b"(" + code.encode("utf-8") + b")")
    if text:
        parts.append(string(text))
    return b" ".join(parts) + b"\r\n"


def ok(text: str = "", code: str = "") -> bytes:
    return _reply(b"OK", text, code)


def no(text: str, code: str = "") -> bytes:
    return _reply(b"NO", text, code)


def bye(text: str, code: str = "") -> bytes:
    return _reply(b"BYE", text, code)


TIMEOUT = bye("Disconnected for inactivity")
TOO_MANY_CONNECTIONS = bye("Too many connections from your address", "TRYLATER")
SERVER_BUSY = bye("Too many connections, try again later", "TRYLATER")
TOO_MANY_ERRORS = bye("Too many errors, closing the connection")
SERVER_ERROR = bye("Internal server error, try again later", "TRYLATER")
LINE_TOO_LONG = no("Line too long")
STORE_UNAVAILABLE = no("The store is unavailable, try again later", "TRYLATER")
STORE_FAILED = no("The store failed, try again later", "TRYLATER")
STORAGE_FULL = no("The server's storage is full, try again later", "TRYLATER")
