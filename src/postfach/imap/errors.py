"""The IMAP exception hierarchy, caught in one place (`Session.execute`).

`Bad` → `tag BAD text`, `No` → `tag NO [CODE] text`, `Bye` → `* BYE text` and
the connection ends. Anything else is logged and ends the session with
`* BYE [SERVERBUG]`; exception text never reaches the wire.
"""

from __future__ import annotations

__all__ = ["Bad", "Bye", "ImapError", "No", "TooBig"]


class ImapError(Exception):
    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code

    def line(self, status: str) -> str:
        return f"{status} [{self.code}] {self.text}" if self.code else f"{status} {self.text}"


class Bad(ImapError):
    """A command the server cannot parse or accept as written."""


class No(ImapError):
    """A well-formed command that failed (RFC 9051 §7.1.2)."""


class Bye(ImapError):
    """The server ends the connection after this untagged BYE."""


class TooBig(Bad):
    """A line or literal over the limits, found while reading (tag read leniently)."""

    def __init__(self, tag: str | None, text: str, code: str | None = None) -> None:
        super().__init__(text, code)
        self.tag = tag
