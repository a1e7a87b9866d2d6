"""RFC 5322 §3.4 address lists, read leniently into IMAP ENVELOPE addresses.

RFC 3501 §7.4.2 / RFC 9051 §7.5.2: an address is (name, adl, mailbox, host)
with raw, undecoded strings; encoded words stay as they are (clients decode).
A group is announced by (NIL, NIL, group-name, NIL) and closed by
(NIL, NIL, NIL, NIL). A source route (obs-route, RFC 5322 §4.4) is the adl,
``"@route"``, as Dovecot gives it.

The parser never fails: a display name is the phrase before ``<``, or, for a
bare addr-spec, its last comment (``a@b (Name)``). A missing local part or
domain becomes ``MISSING_MAILBOX`` / ``MISSING_DOMAIN`` as Dovecot writes them,
never NIL, which would mean a group.

`header_from_addresses` reads the From: addresses as Python's email package
does, for the SMTP sender check (R18) and for picking the DKIM signing domain.
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.utils import getaddresses

from postfach.message.headers import decode_words
from postfach.message.model import Address

__all__ = [
    "MISSING_DOMAIN",
    "MISSING_MAILBOX",
    "address_search_text",
    "search_text_of",
    "header_from_addresses",
    "parse_address_list",
]

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"

_ATOM, _QUOTED, _COMMENT, _LITERAL, _SPECIAL = range(5)
_TOKEN = re.compile(
    rb'(?P<w>[ \t\r\n]+)|"(?P<q>(?:[^"\\]|\\.)*)"?|(?P<l>\[(?:[^\]\\]|\\.)*\]?)'
    rb'|(?P<s>[<>@,;:])|(?P<a>[^ \t\r\n()<>@,;:"\[\\]+|.)',
    re.S,
)
_KINDS = {"q": _QUOTED, "l": _LITERAL, "s": _SPECIAL, "a": _ATOM}
_QUOTED_PAIR = re.compile(rb"\\(.)", re.S)
_END_GROUP = Address(None, None, None, None)

Token = tuple[int, bytes]


def _comment(raw: bytes, pos: int) -> tuple[int, bytes]:
    """Reads a nested comment starting at raw[pos] == "("; returns (end, text)."""
    depth = 0
    i = pos
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x5C:  # backslash: quoted-pair
            i += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1, raw[pos + 1 : i]
        i += 1
    return n, raw[pos + 1 :]


def tokenize(raw: bytes) -> list[Token]:
    """RFC 5322 §3.2 lexical tokens; whitespace dropped, "." kept inside atoms."""
    out: list[Token] = []
    pos = 0
    n = len(raw)
    while pos < n:
        if raw[pos] == 0x28:
            pos, text = _comment(raw, pos)
            out.append((_COMMENT, text))
            continue
        m = _TOKEN.match(raw, pos)
        if m is None:  # pragma: no cover - the last alternative matches any byte
            break
        pos = m.end()
        group = m.lastgroup
        if group is not None and group != "w":
            out.append((_KINDS[group], m.group(group)))
    return out


def _phrase(words: list[Token]) -> bytes | None:
    """Display name: words joined by one space, quoted strings unquoted."""
    parts = [_QUOTED_PAIR.sub(rb"\1", v) if k == _QUOTED else v for k, v in words]
    text = b" ".join(p for p in parts if p)
    return text or None


def _addr_spec(tokens: list[Token]) -> tuple[bytes, bytes]:
    """(mailbox, host) of an addr-spec, split at its last "@"."""
    at = max((i for i, (k, v) in enumerate(tokens) if k == _SPECIAL and v == b"@"), default=-1)
    local = tokens if at < 0 else tokens[:at]
    domain = [] if at < 0 else tokens[at + 1 :]
    # a quoted local part is given by its content, as Dovecot does ("a b"@c: "a b")
    mailbox = b"".join(_QUOTED_PAIR.sub(rb"\1", v) if k == _QUOTED else v for k, v in local)
    host = b"".join(v for _, v in domain)
    return mailbox or MISSING_MAILBOX, host or MISSING_DOMAIN


def _split_route(tokens: list[Token]) -> tuple[bytes | None, list[Token]]:
    """An obs-route ``@a,@b:`` at the start of an angle-addr (RFC 5322 §4.4): the
    ENVELOPE adl (``"@a,@b"``, RFC 3501 §7.4.2) and the addr-spec after it."""
    if tokens and tokens[0] == (_SPECIAL, b"@"):
        for i, tok in enumerate(tokens):
            if tok == (_SPECIAL, b":"):
                return b"".join(v for _, v in tokens[:i]) or None, tokens[i + 1 :]
    return None, tokens


class _Reader:
    """State of one pass over the tokens of an address list."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.out: list[Address] = []
        self.words: list[Token] = []
        self.comments: list[bytes] = []
        self.angle: list[Token] | None = None
        self.in_group = False

    def flush(self) -> None:
        if self.angle is not None:
            adl, spec = _split_route(self.angle)
            mailbox, host = _addr_spec(spec)
            self.out.append(Address(_phrase(self.words), adl, mailbox, host))
        elif self.words:
            mailbox, host = _addr_spec(self.words)
            name = self.comments[-1].strip() if self.comments else None
            self.out.append(Address(name or None, None, mailbox, host))
        self.words, self.comments, self.angle = [], [], None

    def read_angle(self, i: int) -> int:
        j = i
        while j < len(self.tokens) and self.tokens[j] != (_SPECIAL, b">"):
            j += 1
        inner = [t for t in self.tokens[i:j] if t[0] != _COMMENT]
        if self.angle is None:
            self.angle = inner
        return j + 1

    def special(self, value: bytes, i: int) -> int:
        if value == b"<":
            return self.read_angle(i + 1)
        if value == b",":
            self.flush()
        elif value == b";":
            self.flush()
            if self.in_group:
                self.out.append(_END_GROUP)
                self.in_group = False
        elif value == b":" and not self.in_group and self.angle is None:
            self.out.append(Address(None, None, _phrase(self.words) or b"", None))
            self.words, self.comments, self.in_group = [], [], True
        elif value in (b"@", b":"):
            self.words.append((_SPECIAL, value))
        return i + 1

    def run(self) -> list[Address]:
        i = 0
        while i < len(self.tokens):
            kind, value = self.tokens[i]
            if kind == _SPECIAL:
                i = self.special(value, i)
                continue
            if kind == _COMMENT:
                self.comments.append(value)
            else:
                self.words.append((kind, value))
            i += 1
        self.flush()
        if self.in_group:
            self.out.append(_END_GROUP)
        return self.out


# One address of the two commonest forms, ``Some Name <a@b>`` and ``a@b``: no
# comment, quoted string, literal, group or route. Read without the tokenizer
# (delivery parses From and To of every message); the result is the same.
_WORD = rb'[^ \t\r\n\x0b\x0c()<>@,;:"\[\\]+'
_SIMPLE = re.compile(
    rb"(" + _WORD + rb"(?:[ \t\r\n]++" + _WORD + rb")*+)?[ \t\r\n]*+"
    rb"<(" + _WORD + rb")@(" + _WORD + rb")>|(" + _WORD + rb")@(" + _WORD + rb")"
)


def parse_address_list(value: bytes | None) -> tuple[Address, ...] | None:
    """ENVELOPE addresses of a raw header value; None (NIL) when there are none."""
    if value is None:
        return None
    simple = _SIMPLE.fullmatch(value.strip(b" \t\r\n"))
    if simple is not None:
        name, mailbox, host, bare_mailbox, bare_host = simple.groups()
        if mailbox is None:
            return (Address(None, None, bare_mailbox, bare_host),)
        return (Address(name and b" ".join(name.split()), None, mailbox, host),)
    return read_address_list(value)


def read_address_list(value: bytes) -> tuple[Address, ...] | None:
    """`parse_address_list` by the tokenizer, whatever the form."""
    return tuple(_Reader(tokenize(value)).run()) or None


def address_search_text(value: bytes | None) -> str:
    """What SEARCH FROM/TO/CC/BCC match: the parsed address list written out again
    (``"A Name" <@route:user@domain>``, groups as ``name: <a@b>, <c@d>;``), encoded words
    decoded, as Dovecot matches against. Comments and obsolete spacing are gone, so
    ``<user (comment)@ domain>`` is found as ``user@domain``, not as ``comment``."""
    return search_text_of(parse_address_list(value))


def search_text_of(addresses: tuple[Address, ...] | None) -> str:
    """`address_search_text` of a list parse_address_list has parsed already."""
    if not addresses:
        return ""
    out: list[bytes] = []
    members: list[bytes] = []
    group: bytes | None = None
    for a in addresses:
        if a.host is None and a.mailbox is not None and a.name is None and a.adl is None:
            group, members = a.mailbox, []
        elif a == _END_GROUP:
            out.append((group or b"") + b": " + b", ".join(members) + b";")
            group = None
        elif group is not None:
            members.append(_written(a))
        else:
            out.append(_written(a))
    return decode_words(b", ".join(out))


_ATEXT = rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+"
_DOT_ATOM = re.compile(_ATEXT + rb"(?:\." + _ATEXT + rb")*")


_ATOM_TEXT = re.compile(_ATEXT)


def _quoted(text: bytes) -> bytes:
    return b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _written(a: Address) -> bytes:
    """``Name <@route:user@domain>`` as Dovecot writes it: the address always in
    angle brackets, a name that is no atom (as it stands, encoded words undecoded)
    and a local part that is no dot-atom quoted."""
    local = a.mailbox or b""
    if local and not _DOT_ATOM.fullmatch(local):
        local = _quoted(local)
    spec = local + b"@" + (a.host or b"")
    if a.adl:
        spec = a.adl + b":" + spec
    name = a.name or b""
    if name and not _ATOM_TEXT.fullmatch(name):
        name = _quoted(name)
    return (name + b" " if name else b"") + b"<" + spec + b">"


_FROM_FIELD = re.compile(rb"^From:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def header_from_addresses(raw: bytes) -> list[str]:
    """Addresses in the From: fields of the header section (RFC 5322 §3.6.2)."""
    end = raw.find(b"\r\n\r\n")
    header = raw if end < 0 else raw[: end + 2]
    addresses: list[str] = []
    for match in _FROM_FIELD.finditer(header):
        value = match.group(1).decode("utf-8", "replace").replace("\r\n", "").replace("\n", "")
        plain = _PLAIN_FROM.fullmatch(value)
        if plain is not None:  # what the email package would find, found at once
            addresses.append(plain.group(1) or plain.group(2))
            continue
        addresses.extend(email_package_addresses(value))
    return addresses


def email_package_addresses(value: str) -> list[str]:
    """The addresses Python's email package reads in one From value."""
    try:
        value = str(make_header(decode_header(value)))
    except Exception:  # noqa: S110 - undecodable words are kept as they are
        pass
    return [addr for _, addr in getaddresses([value]) if addr]


# ``Name <a@b.c>`` or ``a@b.c`` with a plain name, dot-atom local part and host
# name: no encoded word, quote, comment or second address for the package to read.
# (The field's value keeps the CR of its line end.)
_PLAIN_LOCAL = r"[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+)*"  # no "=?"
_PLAIN_HOST = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_FROM = re.compile(
    rf"[ \t]*+(?:(?:[A-Za-z0-9_.'-]++(?:[ \t]++[A-Za-z0-9_.'-]++)*+[ \t]*+)?"
    rf"<({_PLAIN_LOCAL}@{_PLAIN_HOST})>|({_PLAIN_LOCAL}@{_PLAIN_HOST}))[ \t\r]*+"
)
