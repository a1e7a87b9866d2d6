"""The client side of SMTP without I/O: replies parsed, commands and data framed.

`ReplyParser` turns the bytes a server sends into `Reply` values (RFC 5321
§4.2: three digits, `-` on every line but the last, the same code on each
line) and raises `ReplyError` for anything else: a missing or mixed code, an
overlong line, a reply of too many lines. It buffers at most one line, so a
server that never finishes a line cannot make it grow without bound.

The framing helpers build what the client writes: MAIL FROM and RCPT TO lines
(addresses with CR, LF or NUL are refused before they can smuggle a command),
the DATA content with CRLF line ends and dot-stuffing (RFC 5321 §4.5.2), the
EHLO keywords (RFC 5321 §4.1.1.1) and the SASL answers of AUTH PLAIN (RFC
4616), LOGIN (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = [
    "MAX_LINE",
    "MAX_LINES",
    "AddressRefused",
    "Reply",
    "ReplyError",
    "ReplyParser",
    "auth_cram_md5",
    "auth_login_step",
    "auth_plain",
    "data_block",
    "ehlo_keywords",
    "mail_command",
    "rcpt_command",
]

MAX_LINE = 4096  # RFC 5321 §4.5.3.1.5 says 512; some servers write longer texts
MAX_LINES = 200


class ReplyError(Exception):
    """The server sent something that is not an SMTP reply; the connection is useless."""


class AddressRefused(ValueError):
    """An envelope address that cannot be written on a command line."""


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply's words, its lines joined by newlines (without the codes)."""
        return "\n".join(self.lines)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    def words(self) -> str:
        """`code text` on one line, whitespace collapsed: what an outcome keeps."""
        return f"{self.code} {' '.join(self.text.split())}".strip()


class ReplyParser:
    """Feed bytes in, get whole replies out; sans-IO."""

    __slots__ = ("_buffer", "_code", "_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._code = 0
        self._lines: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        """Every reply completed by `data`; raises ReplyError on malformed input."""
        buffer = self._buffer + data if self._buffer else data
        replies: list[Reply] = []
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            reply = self._line(buffer[start:end])
            if reply is not None:
                replies.append(reply)
            start = end + 1
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_LINE:
            raise ReplyError(f"a reply line longer than {MAX_LINE} bytes")
        return replies

    @property
    def pending(self) -> bool:
        """True while a reply has begun but not ended (or a line is half read)."""
        return bool(self._buffer or self._lines)

    def _line(self, raw: bytes) -> Reply | None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > MAX_LINE:
            raise ReplyError(f"a reply line longer than {MAX_LINE} bytes")
        code = _code(raw)
        separator = raw[3:4]
        if separator not in (b"", b" ", b"-"):
            raise ReplyError(f"not an SMTP reply: {_show(raw)}")
        if self._lines and code != self._code:
            raise ReplyError(f"a reply changed its code midway: {_show(raw)}")
        if len(self._lines) >= MAX_LINES:
            raise ReplyError(f"a reply of more than {MAX_LINES} lines")
        self._code = code
        self._lines.append(raw[4:].decode("utf-8", "replace"))
        if separator == b"-":
            return None
        reply = Reply(code, tuple(self._lines))
        self._lines = []
        return reply


def _code(raw: bytes) -> int:
    # RFC 5321 §4.2: first digit 2-5, second 0-5, third 0-9.
    digits = raw[:3]
    if (
        len(digits) != 3
        or not digits.isdigit()
        or digits[0] not in b"2345"
        or digits[1] not in b"012345"
    ):
        raise ReplyError(f"not an SMTP reply: {_show(raw)}")
    return int(digits)


def _show(raw: bytes) -> str:
    text = raw[:80].decode("ascii", "backslashreplace")
    return repr(text) + ("..." if len(raw) > 80 else "")


def ehlo_keywords(reply: Reply) -> dict[str, str]:
    """EHLO keyword (upper case) → its parameters; the first line is the greeting."""
    found: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            found[keyword.upper()] = params.strip()
    # Old servers write "AUTH=LOGIN PLAIN"; the mechanisms count all the same.
    if "AUTH" not in found:
        for key, params in list(found.items()):
            if key.startswith("AUTH="):
                found["AUTH"] = (key[5:] + " " + params).strip()
    return found


def _envelope_address(address: str) -> str:
    if any(c in address for c in "\r\n\0<>") or len(address) > 998:
        raise AddressRefused(f"the address {address!r} cannot be sent")
    return address


def mail_command(sender: str, options: list[str], utf8: bool) -> bytes:
    """MAIL FROM:<sender> with options (RFC 5321 §4.1.1.2); raises AddressRefused."""
    line = f"MAIL FROM:<{_envelope_address(sender)}>"
    if options:
        line += " " + " ".join(options)
    return (line + "\r\n").encode("utf-8" if utf8 else "ascii")


def rcpt_command(recipient: str, utf8: bool) -> bytes:
    """RCPT TO:<recipient> (RFC 5321 §4.1.1.3); raises AddressRefused."""
    line = f"RCPT TO:<{_envelope_address(recipient)}>\r\n"
    return line.encode("utf-8" if utf8 else "ascii")


_LINE_ENDS = re.compile(rb"\r\n|\r|\n")


def data_block(data: bytes, clean: bool = False) -> list[bytes]:
    """The content as sent after 354, in pieces: CRLF lines, dot-stuffed, then CRLF.CRLF.

    Bare CR and bare LF become CRLF, so no line end the server might read
    differently from ours can end the data early (SMTP smuggling); `clean`
    data, which has CRLF line ends only, skips that check. The pieces go to the
    socket as they are (writev), without another copy of the message.
    """
    if not clean:
        crlf = data.count(b"\r\n")
        if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
            data = _LINE_ENDS.sub(b"\r\n", data)
    if data.startswith(b"."):
        data = b"." + data.replace(b"\r\n.", b"\r\n..")
    elif b"\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    if data and not data.endswith(b"\r\n"):
        return [data, b"\r\n.\r\n"]
    return [data, b".\r\n"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def auth_plain(login: str, password: str) -> bytes:
    """AUTH PLAIN with the initial response (RFC 4616 §2, RFC 4954 §4)."""
    return f"AUTH PLAIN {_b64(chr(0) + login + chr(0) + password)}\r\n".encode("ascii")


def auth_login_step(value: str) -> bytes:
    """One answer of AUTH LOGIN: the user name, then the password, each base64."""
    return (_b64(value) + "\r\n").encode("ascii")


def auth_cram_md5(challenge: str, login: str, password: str) -> bytes:
    """The answer to a CRAM-MD5 challenge (RFC 2195 §2); raises ReplyError if garbled."""
    try:
        raw = base64.b64decode(challenge.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ReplyError("the CRAM-MD5 challenge is not base64") from None
    digest = hmac.new(password.encode("utf-8"), raw, hashlib.md5).hexdigest()
    return (_b64(f"{login} {digest}") + "\r\n").encode("ascii")
