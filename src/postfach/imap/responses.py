"""Fixed response texts and small builders for untagged lines (RFC 9051 §7).

The DESIGN.md error table's IMAP lines live here as constants so tests and
handlers share one spelling.
"""

from __future__ import annotations

__all__ = [
    "APP_PASSWORD_REQUIRED",
    "AUTH_FAILED",
    "IMAP_DISABLED",
    "untagged",
]

GREETING = "IMAP4rev2 postfach ready"
AUTH_FAILED = "Authentication failed"  # sent as NO [AUTHENTICATIONFAILED]
IMAP_DISABLED = "IMAP is disabled for this account"  # sent as NO [UNAVAILABLE]
THROTTLED = "Too many failed logins, try again later"
# Sent as NO [AUTHENTICATIONFAILED]: the password was right, but 2FA is on.
APP_PASSWORD_REQUIRED = "Two-factor sign-in is on for this account: use an app password"  # noqa: S105
PRIVACY_REQUIRED = "Use STARTTLS (or port 993) before logging in"
LOGGED_OUT_EVERYWHERE = "Logged out on all devices"
AUTOLOGOUT = "Autologout; idle for too long"
SERVER_BUG = "Internal error; the session ends"
STORE_UNAVAILABLE = "The mail store is unavailable, try again later"  # NO [UNAVAILABLE]
STORE_FULL = "The server's storage is full, try again later"  # NO [UNAVAILABLE]
NOT_IMAP = "Please speak IMAP"
WRONG_STATE = "Command not allowed in this state"
NO_SUCH_MAILBOX = "No such mailbox"
TRY_CREATE = "Mailbox does not exist"
LITERAL_TOO_BIG = "Literal too big"
LINE_TOO_LONG = "Line too long"


def untagged(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return b"* " + data + b"\r\n"


def tagged(tag: str, status: str, text: str) -> bytes:
    return f"{tag} {status} {text}\r\n".encode("utf-8", "replace")
