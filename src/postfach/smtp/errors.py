"""The SMTP exception hierarchy, caught in one place: `session.Session.run`.

Every error carries the `Reply` the client gets; no exception text ever reaches
the wire. `CloseSession` ends the connection after its (421) reply.
"""

from __future__ import annotations

from postfach.smtp.replies import Reply

__all__ = ["CloseSession", "SmtpError"]


class SmtpError(Exception):
    """A command failed; `reply` says how, and the session goes on."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.code)
        self.reply = reply


class CloseSession(SmtpError):
    """The session ends after `reply` is sent."""
