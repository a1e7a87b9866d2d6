"""Every fixed POP3 reply, as bytes ready for the wire.

Response codes in brackets are RFC 2449 §8 (IN-USE, LOGIN-DELAY) and RFC 3206
(SYS/TEMP, SYS/PERM, AUTH). The login failure text is the one DESIGN.md fixes:
clients show it and guides explain it.
"""

from __future__ import annotations

__all__ = ["Pop3Error", "err", "ok"]


class Pop3Error(Exception):
    """A command failed; `reply` is the complete -ERR line. Caught in Session.handle."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply)
        self.reply = reply


def ok(text: str = "") -> bytes:
    return b"+OK " + text.encode() + b"\r\n" if text else b"+OK\r\n"


def err(text: str) -> bytes:
    return b"-ERR " + text.encode() + b"\r\n"


OK = ok()
LOGIN_FAILED = err("[AUTH] login failure or POP3 disabled")
THROTTLED = err("[SYS/TEMP] too many failed logins, try again later")
APP_PASSWORD_REQUIRED = err("[AUTH] two-factor sign-in is on for this account: use an app password")
PLAINTEXT_REFUSED = err("[AUTH] plaintext authentication is refused; use STLS first")
IN_USE = err("[IN-USE] maildrop is in use by another POP3 session")
USER_FIRST = err("USER first")
LOGGED_IN = ok("logged in")
USER_OK = ok("send PASS")
TLS_GO = ok("begin TLS negotiation")
TLS_ACTIVE = err("TLS is already active")
TLS_UNAVAILABLE = err("STLS is not available here")
NOT_AUTHENTICATED = err("not authenticated; log in first")
ALREADY_AUTHENTICATED = err("already authenticated")
NO_SUCH_MESSAGE = err("no such message")
MESSAGE_DELETED = err("message is deleted")
MESSAGE_GONE = err("[SYS/TEMP] message was removed by another session")
UNKNOWN_MECHANISM = err("unknown SASL mechanism; use PLAIN or LOGIN")
AUTH_CANCELLED = err("authentication cancelled")
AUTH_BAD_BASE64 = err("invalid base64 in authentication exchange")
TOO_MANY_ERRORS = err("too many errors, closing connection")
LINE_TOO_LONG = err("line too long")
TIMEOUT = err("autologout timer expired, closing connection")
SERVER_ERROR = err("[SYS/TEMP] internal server error, try again later")
STORE_FAILED = err("[SYS/TEMP] the mail store failed, try again later")
STORE_UNAVAILABLE = err("[SYS/TEMP] the mail store is unavailable, try again later")
STORAGE_FULL = err("[SYS/TEMP] the server's storage is full, try again later")
SOME_NOT_REMOVED = err("[SYS/TEMP] some deleted messages were not removed")
LOCK_LOST = err("[SYS/TEMP] maildrop lock lost, closing connection")
TOO_MANY_CONNECTIONS = err("[SYS/TEMP] too many connections from your address")
SERVER_BUSY = err("[SYS/TEMP] too many connections, try again later")
