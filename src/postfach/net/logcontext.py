"""The session id: one short name per connection, on every log line it causes.

`serve_streams` sets it as each connection starts; the connection's task and
everything it awaits or creates inherit it (contextvars), so IMAP, POP3, SMTP
and any later protocol get it without passing it along. postfach.logsetup
puts it on each record.
"""

from __future__ import annotations

import contextvars
import os

__all__ = ["SESSION_ID", "new_session_id"]

SESSION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("postfach_session", default="")


def new_session_id() -> str:
    """Twelve hex digits: unique enough across workers and nodes to grep for."""
    return os.urandom(6).hex()
