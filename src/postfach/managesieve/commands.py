"""ManageSieve commands as typed values: what `parser.parse` returns and `session` applies.

One frozen dataclass per command of RFC 5804 §2. Strings arrive decoded: script
names and scripts as text (UTF-8, §1.6), SASL data as the raw octets. A command
that cannot be parsed becomes `BadCommand` with a reason for the client (never
the client's own text echoed back).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Authenticate",
    "BadCommand",
    "Capability",
    "CheckScript",
    "Command",
    "DeleteScript",
    "GetScript",
    "HaveSpace",
    "ListScripts",
    "Logout",
    "Noop",
    "PutScript",
    "RenameScript",
    "SetActive",
    "StartTls",
    "Unauthenticate",
]


@dataclass(frozen=True, slots=True)
class Authenticate:
    """§2.1 AUTHENTICATE mechanism [initial-response]; the response is base64, never logged."""

    mechanism: str
    initial: bytes | None

    def __repr__(self) -> str:
        return f"Authenticate(mechanism={self.mechanism!r}, initial=<hidden>)"


@dataclass(frozen=True, slots=True)
class StartTls:
    """§2.2 STARTTLS."""


@dataclass(frozen=True, slots=True)
class Logout:
    """§2.3 LOGOUT."""


@dataclass(frozen=True, slots=True)
class Capability:
    """§2.4 CAPABILITY."""


@dataclass(frozen=True, slots=True)
class HaveSpace:
    """§2.5 HAVESPACE name size."""

    name: str
    size: int


@dataclass(frozen=True, slots=True)
class PutScript:
    """§2.6 PUTSCRIPT name script."""

    name: str
    script: str


@dataclass(frozen=True, slots=True)
class ListScripts:
    """§2.7 LISTSCRIPTS."""


@dataclass(frozen=True, slots=True)
class SetActive:
    """§2.8 SETACTIVE name; the empty name deactivates every script."""

    name: str


@dataclass(frozen=True, slots=True)
class GetScript:
    """§2.9 GETSCRIPT name."""

    name: str


@dataclass(frozen=True, slots=True)
class DeleteScript:
    """§2.10 DELETESCRIPT name."""

    name: str


@dataclass(frozen=True, slots=True)
class RenameScript:
    """§2.11.1 RENAMESCRIPT old new."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class CheckScript:
    """§2.12 CHECKSCRIPT script."""

    script: str


@dataclass(frozen=True, slots=True)
class Noop:
    """§2.13 NOOP [tag]; the tag comes back in a TAG response code."""

    tag: str | None


@dataclass(frozen=True, slots=True)
class Unauthenticate:
    """§2.14.1 UNAUTHENTICATE."""


@dataclass(frozen=True, slots=True)
class BadCommand:
    """Input that is no valid command; `reason` is shown to the client."""

    reason: str


Command = (
    Authenticate
    | StartTls
    | Logout
    | Capability
    | HaveSpace
    | PutScript
    | ListScripts
    | SetActive
    | GetScript
    | DeleteScript
    | RenameScript
    | CheckScript
    | Noop
    | Unauthenticate
)
