"""IMAP URLs (RFC 5092) naming one message or part: what IMAP's CATENATE (RFC 4469)
and URLAUTH (RFC 4467) and SMTP's BURL (RFC 4468) read. Pure parsing, no I/O.

    imap://user@host/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=0.100
    /Drafts;UIDVALIDITY=385759045/;UID=20                    (relative to the server)

Keywords compare case-insensitively; the mailbox and section are %-encoded
UTF-8 (a name in modified UTF-7 is taken as it is, as clients still send them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from postfach.mutf7 import decode_mutf7

__all__ = ["ImapUrl", "Section", "parse_section", "parse_url", "rump"]

MAX_NUMBER = 0xFFFFFFFF

_AUTHORITY = re.compile(
    r"imap://(?:(?P<user>[^;@/]*)(?:;AUTH=(?P<auth>[^@/]+))?@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?",
    re.I,
)
_PARAM = re.compile(r"(UIDVALIDITY|UID|SECTION|PARTIAL|EXPIRE|URLAUTH)=(.*)", re.I | re.S)
_NZ = re.compile(r"[1-9][0-9]{0,9}")
_PARTIAL = re.compile(r"([0-9]{1,10})(?:\.([1-9][0-9]{0,9}))?")


@dataclass(frozen=True, slots=True)
class ImapUrl:
    user: str | None  # None: relative URL (this server, this user)
    host: str | None
    mailbox: str
    uidvalidity: int | None
    uid: int
    section: str | None
    partial: tuple[int, int | None] | None  # (offset, length)
    expire: str | None  # RFC 4467 ;EXPIRE=, as written
    urlauth: str | None  # RFC 4467 ";URLAUTH=access:mech:token", as written


def _decode(text: str) -> str:
    raw = unquote_to_bytes(text)
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("mailbox is not UTF-8") from exc
    if "&" in value:
        try:
            return decode_mutf7(value)
        except ValueError:
            return value
    return value


def _nz_number(text: str) -> bool:
    return bool(_NZ.fullmatch(text)) and int(text) <= MAX_NUMBER


def parse_url(text: str) -> ImapUrl:
    """One message (or part of one); ValueError for anything else."""
    user = host = None
    path = text
    match = _AUTHORITY.match(text)
    if match is not None:
        user = _decode(match.group("user") or "")
        host = match.group("host").lower()
        path = text[match.end() :]
    elif text[:7].lower() == "imap://":
        raise ValueError("invalid server in URL")
    if not path.startswith("/") or ";" not in path:
        raise ValueError("not a message URL")
    head, _, rest = path[1:].partition(";")
    params = rest.split(";")
    if head.endswith("/") and not params[0].upper().startswith("UIDVALIDITY="):
        head = head[:-1]
    if not head:
        raise ValueError("no mailbox in URL")
    values: dict[str, str] = {}
    for param in params:
        found = _PARAM.fullmatch(param)
        if found is None:
            raise ValueError("unknown URL parameter")
        name = found.group(1).upper()
        value = found.group(2)
        if name != "URLAUTH":  # a separating "/" before the next parameter
            value = value[:-1] if value.endswith("/") else value
        if name in values:
            raise ValueError(f"{name} given twice")
        values[name] = value
    uid = values.get("UID")
    if uid is None or not _NZ.fullmatch(uid) or int(uid) > MAX_NUMBER:
        raise ValueError("no valid UID in URL")
    uidvalidity = values.get("UIDVALIDITY")
    if uidvalidity is not None and (
        not _NZ.fullmatch(uidvalidity) or int(uidvalidity) > MAX_NUMBER
    ):
        raise ValueError("invalid UIDVALIDITY")
    partial = None
    if "PARTIAL" in values:
        found = _PARTIAL.fullmatch(values["PARTIAL"])
        if found is None:
            raise ValueError("invalid PARTIAL")
        partial = (int(found.group(1)), int(found.group(2)) if found.group(2) else None)
    section = _decode(values["SECTION"]) if "SECTION" in values else None
    return ImapUrl(
        user,
        host,
        _decode(head),
        int(uidvalidity) if uidvalidity else None,
        int(uid),
        section,
        partial,
        values.get("EXPIRE"),
        values.get("URLAUTH"),
    )


_SECTION = re.compile(
    r"((?:[1-9][0-9]{0,4}\.)*[1-9][0-9]{0,4})?(?:(?:^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?"
    r"(?: \(([^()]*)\))?",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Section:
    parts: tuple[int, ...]
    text: str | None  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...]


def parse_section(text: str) -> Section:
    """RFC 5092 enc-section decoded: `1.2`, `HEADER`, `1.MIME`, `HEADER.FIELDS (A B)`."""
    found = _SECTION.fullmatch(text)
    if found is None or not text:
        raise ValueError("invalid section")
    numbers, name, fields = found.groups()
    kind = name.upper() if name else None
    if (fields is not None) != (kind in ("HEADER.FIELDS", "HEADER.FIELDS.NOT")):
        raise ValueError("invalid section")
    if kind == "MIME" and not numbers:
        raise ValueError("MIME needs a part")
    names = tuple(f.upper() for f in (fields or "").split())
    if fields is not None and not names:
        raise ValueError("empty header field list")
    parts = tuple(int(n) for n in numbers.split(".")) if numbers else ()
    return Section(parts, kind, names)


def rump(text: str) -> str | None:
    """RFC 4467 §3: the URL up to and including ";URLAUTH=<access>" (what the token
    signs), or None when it has no URLAUTH."""
    found = re.search(r";URLAUTH=([^:;]*)", text, re.I)
    return None if found is None else text[: found.end()]
