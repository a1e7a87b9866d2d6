"""Sans-IO handling of message content: DATA framing (RFC 5321 §4.1.1.4, §4.5.2).

`DataCollector.feed()` takes bytes as they arrive and reports the end of data
only at <CRLF>.<CRLF>; a bare LF or CR never ends it (SMTP smuggling, CVE-2023-51764
and friends). `finish_content()` removes dot-stuffing, turns bare LFs into CRLF
(as Postfix's `smtpd_forbid_bare_newline = normalize` does) and checks the line
length limit (RFC 5322 §2.1.1: 998 characters).
"""

from __future__ import annotations

import re

from postfach.smtp import replies
from postfach.smtp.errors import SmtpError

__all__ = ["DataCollector", "finish_content", "normalize_newlines"]

_TERMINATOR = b"\r\n.\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")
_MAX_LINE = 998  # octets between CRLFs (RFC 5322 §2.1.1)


class DataCollector:
    """Accumulates DATA until its terminator; past `max_size` it only looks for the end."""

    __slots__ = ("_buf", "_scan", "max_size", "size", "too_big")

    def __init__(self, max_size: int) -> None:
        # The leading CRLF lets an empty message (".\r\n" at once) match the terminator.
        self._buf = bytearray(b"\r\n")
        self._scan = 0
        self.max_size = max_size
        self.size = 0
        self.too_big = False

    def feed(self, chunk: bytes) -> bytes | None:
        """Adds bytes; returns what follows the terminator once it is seen, else None."""
        self._buf += chunk
        end = self._buf.find(_TERMINATOR, self._scan)
        if end < 0:
            self.size += len(chunk)
            if self.size > self.max_size:
                self.too_big = True
                del self._buf[:-4]
            self._scan = max(0, len(self._buf) - 4)
            return None
        rest = bytes(self._buf[end + len(_TERMINATOR) :])
        del self._buf[end + 2 :]
        if len(self._buf) - 2 > self.max_size:
            self.too_big = True
        return rest

    def content(self) -> bytes:
        """The raw content (dot-stuffed, with its final CRLF); valid after feed() ended."""
        return bytes(self._buf[2:])


def finish_content(raw: bytes) -> bytes:
    """Unstuffs DATA content, normalizes newlines and enforces the line limit."""
    if b"\n." in raw or raw.startswith(b"."):
        # RFC 5321 §4.5.2: drop the first "." of every line that starts with one.
        raw = (b"\r\n" + raw).replace(b"\r\n.", b"\r\n")[2:]
    raw = normalize_newlines(raw)
    # split() runs in C; a regex scan for 999 non-newline octets backtracks at
    # every position and cost milliseconds per message.
    if len(raw) > _MAX_LINE and max(map(len, raw.split(b"\r\n"))) > _MAX_LINE:
        raise SmtpError(replies.LINE_TOO_LONG_DATA)
    return raw


def normalize_newlines(raw: bytes) -> bytes:
    if raw.count(b"\n") != raw.count(b"\r\n"):
        raw = _BARE_LF.sub(b"\r\n", raw)
    return raw
