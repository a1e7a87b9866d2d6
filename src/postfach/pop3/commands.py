"""POP3 commands as typed values: what `parser.parse` returns and `session` applies.

One frozen dataclass per command of RFC 1939 (USER, PASS, STAT, LIST, RETR,
DELE, NOOP, RSET, QUIT, TOP, UIDL), RFC 2449 (CAPA), RFC 2595 (STLS) and
RFC 5034 (AUTH). A line that is not a valid command becomes `BadCommand` with a
reason meant for the client (never the client's own text echoed back).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Auth",
    "BadCommand",
    "Capa",
    "Command",
    "Dele",
    "ListMessages",
    "Noop",
    "Pass",
    "Quit",
    "Retr",
    "Rset",
    "Stat",
    "Stls",
    "Top",
    "Uidl",
    "User",
]


@dataclass(frozen=True, slots=True)
class User:
    """RFC 1939 §7 USER name."""

    name: str


@dataclass(frozen=True, slots=True)
class Pass:
    """RFC 1939 §7 PASS string; the rest of the line, spaces included. Never logged."""

    secret: str

    def __repr__(self) -> str:
        return "Pass(secret=<hidden>)"


@dataclass(frozen=True, slots=True)
class Stat:
    """RFC 1939 §5 STAT."""


@dataclass(frozen=True, slots=True)
class ListMessages:
    """RFC 1939 §5 LIST [msg]."""

    msg: int | None


@dataclass(frozen=True, slots=True)
class Retr:
    """RFC 1939 §5 RETR msg."""

    msg: int


@dataclass(frozen=True, slots=True)
class Dele:
    """RFC 1939 §5 DELE msg."""

    msg: int


@dataclass(frozen=True, slots=True)
class Noop:
    """RFC 1939 §5 NOOP."""


@dataclass(frozen=True, slots=True)
class Rset:
    """RFC 1939 §5 RSET."""


@dataclass(frozen=True, slots=True)
class Quit:
    """RFC 1939 §4 and §6 QUIT."""


@dataclass(frozen=True, slots=True)
class Top:
    """RFC 1939 §7 TOP msg n."""

    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Uidl:
    """RFC 1939 §7 UIDL [msg]."""

    msg: int | None


@dataclass(frozen=True, slots=True)
class Capa:
    """RFC 2449 §5 CAPA."""


@dataclass(frozen=True, slots=True)
class Stls:
    """RFC 2595 §4 STLS."""


@dataclass(frozen=True, slots=True)
class Auth:
    """RFC 5034 §4 AUTH mechanism [initial-response]; no mechanism lists them."""

    mechanism: str | None
    initial: str | None  # base64 text as sent; "=" is the empty response

    def __repr__(self) -> str:
        shown = None if self.initial is None else "<hidden>"
        return f"Auth(mechanism={self.mechanism!r}, initial={shown})"


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A line that is not a command; `reason` is shown to the client after -ERR."""

    reason: str


Command = (
    User | Pass | Stat | ListMessages | Retr | Dele | Noop | Rset | Quit | Top | Uidl | Capa
    | Stls | Auth
)
