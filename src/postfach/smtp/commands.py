"""SMTP commands as typed values (RFC 5321 §4.1 and the ESMTP extensions postfach offers).

The parser (parser.py) turns a command line into one of these; the session
dispatches on the type. Parameters of MAIL and RCPT are checked and decoded here
once: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), and the
DSN parameters RET, ENVID, NOTIFY and ORCPT (RFC 3461).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Auth",
    "Bdat",
    "Burl",
    "Command",
    "Data",
    "Helo",
    "Help",
    "Mail",
    "MailParams",
    "Noop",
    "Quit",
    "Rcpt",
    "RcptParams",
    "Rset",
    "StartTls",
    "Vrfy",
]


@dataclass(frozen=True, slots=True)
class MailParams:
    size: int | None = None
    body: str | None = None  # "7BIT", "8BITMIME" or "BINARYMIME"
    smtputf8: bool = False
    ret: str | None = None  # RFC 3461 §4.3: "FULL" or "HDRS"
    envid: str | None = None  # RFC 3461 §4.4, xtext-decoded
    auth: str | None = None  # RFC 4954 §5, accepted and ignored


@dataclass(frozen=True, slots=True)
class RcptParams:
    notify: frozenset[str] | None = None  # RFC 3461 §4.1: {"NEVER"} or SUCCESS/FAILURE/DELAY
    orcpt: tuple[str, str] | None = None  # RFC 3461 §4.2: (addr-type, decoded address)


@dataclass(frozen=True, slots=True)
class Helo:
    domain: str
    extended: bool  # EHLO


@dataclass(frozen=True, slots=True)
class Mail:
    address: str  # "" for the null reverse-path
    params: MailParams


@dataclass(frozen=True, slots=True)
class Rcpt:
    address: str
    params: RcptParams


@dataclass(frozen=True, slots=True)
class Data:
    pass


@dataclass(frozen=True, slots=True)
class Bdat:
    """RFC 3030 CHUNKING: `size` octets follow the command line."""

    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class Burl:
    """RFC 4468 BURL: the content an IMAP URL names, as if sent by BDAT."""

    url: str
    last: bool


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Vrfy:
    argument: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class StartTls:
    pass


@dataclass(frozen=True, slots=True)
class Auth:
    """RFC 4954: the mechanism (upper-cased) and the optional initial response."""

    mechanism: str
    initial: str | None


Command = (
    Helo | Mail | Rcpt | Data | Bdat | Burl | Rset | Noop | Quit | Vrfy | Help | StartTls | Auth
)
