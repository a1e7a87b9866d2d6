"""MIME structure of a message as FETCH sees it (RFC 9051 §6.4.5, §7.5.2).

`MimePart.parse(raw)` splits a message into header and body and, for
multipart and message/rfc822 parts, into its children, keeping byte slices of
the served bytes so that BODY[section] returns exactly what was stored. It
renders ENVELOPE and BODYSTRUCTURE and extracts sections, including the
decoded BINARY form (RFC 3516).
"""

from __future__ import annotations

import base64
import binascii
import email.errors
import email.header
import email.utils
import quopri
import re
from dataclasses import dataclass, field

from postfach.imap.grammar import nstring, quoted

__all__ = ["MimePart", "UnknownEncoding", "decode_header_text", "header_fields", "section_bytes"]

MAX_DEPTH = 30


class UnknownEncoding(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot decode (RFC 3516 UNKNOWN-CTE)."""


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """(header including the blank line, body). No blank line: all header."""
    if raw.startswith(b"\r\n"):
        return raw[:2], raw[2:]
    if raw.startswith(b"\n"):
        return raw[:1], raw[1:]
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.end()], raw[match.end() :]


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """Unfolded (name, raw value) pairs in order."""
    out: list[tuple[str, bytes]] = []
    for line in re.split(rb"\r?\n(?![ \t])", header):
        name, sep, value = line.partition(b":")
        if not sep or not name or b" " in name.strip(b" \t") or len(name) > 200:
            continue
        unfolded = re.sub(rb"\r?\n[ \t]", b" ", value).strip()
        out.append((name.strip().decode("ascii", "replace").lower(), unfolded))
    return out


def filter_header(header: bytes, names: tuple[str, ...], keep: bool) -> bytes:
    """HEADER.FIELDS (keep) / HEADER.FIELDS.NOT: whole field lines, then the blank line."""
    wanted = {n.lower() for n in names}
    out: list[bytes] = []
    for line in re.split(rb"(?<=\n)(?![ \t])", header):
        name, sep, _ = line.partition(b":")
        if not sep:
            continue
        if (name.strip().decode("ascii", "replace").lower() in wanted) == keep:
            out.append(line if line.endswith(b"\n") else line + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def decode_header_text(value: bytes) -> str:
    """RFC 2047 decoded text of a header value (for SEARCH, SORT, THREAD)."""
    text = value.decode("utf-8", "replace")
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return text


_TOKEN_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)', re.S)


def parse_content_type(value: str) -> tuple[str, str, list[tuple[str, str]]]:
    main, _, rest = value.partition(";")
    kind, _, sub = main.strip().partition("/")
    params = _params(";" + rest)
    if not kind or not sub or " " in kind or " " in sub.strip():
        return "", "", params
    return kind.strip(), sub.strip(), params


def _params(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in _TOKEN_PARAM.findall(text):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((name, value))
    return out


@dataclass(slots=True)
class MimePart:
    header: bytes
    body: bytes
    fields: list[tuple[str, bytes]]
    kind: str
    subtype: str
    params: list[tuple[str, str]]
    children: list[MimePart] = field(default_factory=list)
    message: MimePart | None = None  # the embedded message of message/rfc822

    @classmethod
    def parse(
        cls, raw: bytes, default: tuple[str, str] = ("text", "plain"), depth: int = 0
    ) -> MimePart:
        header, body = split_header(raw)
        fields = header_fields(header)
        ctype = _get(fields, "content-type")
        kind, sub, params = (
            parse_content_type(ctype.decode("utf-8", "replace")) if ctype else ("", "", [])
        )
        if not kind:
            kind, sub = default
            if (kind, sub) == ("text", "plain") and not params:
                params = [("charset", "us-ascii")]
        part = cls(header, body, fields, kind, sub, params)
        if depth < MAX_DEPTH:
            part._split(depth)
        return part

    @property
    def is_multipart(self) -> bool:
        return self.kind.lower() == "multipart"

    @property
    def is_message(self) -> bool:
        return self.kind.lower() == "message" and self.subtype.lower() in ("rfc822", "global")

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k.lower() == name), None)

    def field(self, name: str) -> bytes | None:
        return _get(self.fields, name)

    def _split(self, depth: int) -> None:
        if self.is_multipart:
            boundary = self.param("boundary")
            if boundary:
                default = (
                    ("message", "rfc822") if self.subtype.lower() == "digest" else ("text", "plain")
                )
                self.children = [
                    MimePart.parse(chunk, default, depth + 1)
                    for chunk in split_multipart(self.body, boundary.encode("utf-8", "replace"))
                ]
        elif self.is_message:
            self.message = MimePart.parse(self.body, depth=depth + 1)

    # -- sections ------------------------------------------------------------------

    def subpart(self, parts: tuple[int, ...]) -> MimePart | None:
        """The part a section path names (RFC 9051 §6.4.5 part numbering)."""
        node: MimePart = self
        for i, number in enumerate(parts):
            if i and node.is_message and node.message is not None:
                node = node.message
            if node.is_multipart:
                if not 1 <= number <= len(node.children):
                    return None
                node = node.children[number - 1]
            elif number != 1:
                return None
        return node

    def content_message(self) -> MimePart:
        """For HEADER/TEXT of a part: the embedded message of message/rfc822, else itself."""
        if self.is_message and self.message is not None:
            return self.message
        return self

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding removed (BINARY)."""
        cte = (self.field("content-transfer-encoding") or b"7bit").strip().lower()
        if cte in (b"7bit", b"8bit", b"binary", b""):
            return self.body
        if cte == b"base64":
            try:
                return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", self.body) + b"==")
            except (binascii.Error, ValueError):
                raise UnknownEncoding from None
        if cte == b"quoted-printable":
            return quopri.decodestring(self.body)
        raise UnknownEncoding

    # -- ENVELOPE and BODYSTRUCTURE ----------------------------------------

    def envelope(self, utf8: bool = True) -> bytes:
        """RFC 9051 §7.5.2 ENVELOPE: raw header values, addresses as (name adl mailbox host)."""

        def text(name: str) -> bytes:
            return nstring(self.field(name), utf8)

        frm = self.field("from")
        sender = self.field("sender") or frm
        reply_to = self.field("reply-to") or frm
        items = [
            text("date"),
            text("subject"),
            _addresses(frm, utf8),
            _addresses(sender, utf8),
            _addresses(reply_to, utf8),
            _addresses(self.field("to"), utf8),
            _addresses(self.field("cc"), utf8),
            _addresses(self.field("bcc"), utf8),
            text("in-reply-to"),
            text("message-id"),
        ]
        return b"(" + b" ".join(items) + b")"

    def bodystructure(self, extensible: bool, utf8: bool = True) -> bytes:
        if self.is_multipart and self.children:
            inner = b"".join(ch.bodystructure(extensible, utf8) for ch in self.children)
            out = [inner, quoted(self.subtype, utf8)]
            if extensible:
                out += [
                    _param_list(self.params, utf8),
                    self._disposition(utf8),
                    nstring(self.field("content-language"), utf8),
                    nstring(self.field("content-location"), utf8),
                ]
            return b"(" + b" ".join(out) + b")"
        kind = self.kind if not self.is_multipart else "text"
        sub = self.subtype if not self.is_multipart else "plain"
        cte = (self.field("content-transfer-encoding") or b"7BIT").strip()
        out = [
            quoted(kind, utf8),
            quoted(sub, utf8),
            _param_list(self.params, utf8),
            nstring(self.field("content-id"), utf8),
            nstring(self.field("content-description"), utf8),
            quoted(cte, utf8),
            b"%d" % len(self.body),
        ]
        if self.is_message and self.message is not None:
            out += [
                self.message.envelope(utf8),
                self.message.bodystructure(extensible, utf8),
                b"%d" % _lines(self.body),
            ]
        elif kind.lower() == "text":
            out.append(b"%d" % _lines(self.body))
        if extensible:
            out += [
                nstring(self.field("content-md5"), utf8),
                self._disposition(utf8),
                nstring(self.field("content-language"), utf8),
                nstring(self.field("content-location"), utf8),
            ]
        return b"(" + b" ".join(out) + b")"

    def _disposition(self, utf8: bool) -> bytes:
        value = self.field("content-disposition")
        if not value:
            return b"NIL"
        text = value.decode("utf-8", "replace")
        kind = text.partition(";")[0].strip()
        if not kind:
            return b"NIL"
        params = _params(";" + text.partition(";")[2])
        return b"(" + quoted(kind, utf8) + b" " + _param_list(params, utf8) + b")"


def section_bytes(
    root: MimePart, raw: bytes, parts: tuple[int, ...], text: str, fields: tuple[str, ...]
) -> bytes | None:
    """BODY[section] contents (RFC 9051 §6.4.5); None for a part that does not exist."""
    if not parts and not text:
        return raw
    node = root.subpart(parts) if parts else root
    if node is None:
        return None
    if text == "":
        return node.body
    if text == "MIME":
        return node.header
    target = node.content_message() if parts else node
    if text == "HEADER":
        return target.header
    if text == "TEXT":
        return target.body
    return filter_header(target.header, fields, keep=text == "HEADER.FIELDS")


def _get(fields: list[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in fields:
        if key == name:
            return value
    return None


def _lines(body: bytes) -> int:
    return body.count(b"\n") + (0 if not body or body.endswith(b"\n") else 1)


def _param_list(params: list[tuple[str, str]], utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(quoted(k, utf8) + b" " + quoted(v, utf8) for k, v in params) + b")"


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """Body parts between `--boundary` lines (RFC 2046 §5.1.1).

    The CRLF before a delimiter belongs to the delimiter.
    """
    delim = b"--" + boundary
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while True:
        idx = body.find(delim, pos)
        if idx < 0:
            break
        at_line_start = idx == 0 or body[idx - 1 : idx] == b"\n"
        after = body[idx + len(delim) : idx + len(delim) + 2]
        if not at_line_start or (after and after[:1] not in b"\r\n \t-"):
            pos = idx + 1
            continue
        if start is not None:
            end = idx - 1
            if end > 0 and body[end - 1 : end] == b"\r":
                end -= 1
            parts.append(body[start : max(end, start)])
        if after == b"--":
            return parts
        eol = body.find(b"\n", idx)
        if eol < 0:
            return parts
        start = pos = eol + 1
    if start is not None:
        parts.append(body[start:])
    return parts


def _addresses(value: bytes | None, utf8: bool) -> bytes:
    """An address list as (name adl mailbox host) items, groups as RFC 9051 describes."""
    if not value:
        return b"NIL"
    text = value.decode("utf-8", "replace")
    out: list[bytes] = []
    for chunk in _split_groups(text):
        group, members = chunk
        if group is not None:
            out.append(b"(NIL NIL " + quoted(group, utf8) + b" NIL)")
        for name, addr in email.utils.getaddresses([members]) if members.strip() else []:
            if not addr and not name:
                continue
            mailbox, _, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
            out.append(
                b"("
                + b" ".join(
                    [
                        nstring(name or None, utf8),
                        b"NIL",
                        nstring(mailbox or None, utf8),
                        nstring(host or None, utf8),
                    ]
                )
                + b")"
            )
        if group is not None:
            out.append(b"(NIL NIL NIL NIL)")
    return b"(" + b"".join(out) + b")" if out else b"NIL"


_GROUP = re.compile(r'^\s*([^:,"<>@]+):(.*?);\s*,?', re.S)


def _split_groups(text: str) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    rest = text
    while rest.strip():
        match = _GROUP.match(rest)
        if match:
            out.append((match.group(1).strip(), match.group(2)))
            rest = rest[match.end() :]
            continue
        cut = rest.find(";") if re.match(r'^\s*[^:,"<>@]+:', rest) else -1
        if cut >= 0:
            out.append((None, rest[:cut]))
            rest = rest[cut + 1 :]
        else:
            out.append((None, rest))
            break
    return out
