"""The one log line of a refused login, the same on every protocol and the web.

    auth failed: user=<alice@example.org> ip=<192.0.2.7> proto=imap reason=bad-password
    auth throttled: user=<alice@example.org> ip=<192.0.2.7> proto=smtp reason=user-address
    auth refused: user=<alice@example.org> ip=<192.0.2.7> proto=pop3 reason=protocol-disabled

A fail2ban filter matches `auth failed: user=<[^>]*> ip=<<HOST>>`.
The user name is what the client typed, so it is escaped: no `<`, `>`, control
characters or spaces survive, and it is cut at 100 characters, so a crafted
name cannot forge a second `ip=<...>` or a second line. The password never
reaches this module.
"""

from __future__ import annotations

import enum
import logging

__all__ = ["AuthEvent", "auth_line", "escape_for_log", "log_auth"]

log = logging.getLogger("postfach.auth")

MAX_USER = 100


class AuthEvent(enum.Enum):
    FAILED = "failed"  # a wrong password or an unknown user: counted by the throttle
    THROTTLED = "throttled"  # refused unchecked: a lock-out (auth/throttle.py)
    REFUSED = "refused"  # the password was right, the protocol is switched off


def escape_for_log(text: str, limit: int = MAX_USER) -> str:
    """`text` a client chose, made safe inside `<...>` of a one-line log entry."""
    out = []
    for ch in text[:limit]:
        if ch in "<>\\" or not ch.isprintable() or ch.isspace():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + ("..." if len(text) > limit else "")


def auth_line(event: AuthEvent, user: str, ip: str, protocol: str, reason: str) -> str:
    who = f"user=<{escape_for_log(user)}> ip=<{escape_for_log(ip)}>"
    return f"auth {event.value}: {who} proto={protocol} reason={reason}"


def log_auth(event: AuthEvent, user: str, ip: str, protocol: str, reason: str) -> None:
    level = logging.WARNING if event is AuthEvent.THROTTLED else logging.INFO
    log.log(level, "%s", auth_line(event, user, ip, protocol, reason))
