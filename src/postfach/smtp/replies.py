"""Every SMTP reply postfach sends, as values (RFC 5321 §4.2, RFC 3463 enhanced codes).

Sessions and policy functions return these constants; the wire form comes from
`Reply.to_bytes()`. Tests compare against the same constants. The texts of the
DESIGN.md error table are here verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Reply"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: a three-digit code, an RFC 3463 status ("" for none) and its text lines."""

    code: int
    status: str
    text: str
    # The wire form, made once: most replies are module constants sent again and again.
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lines = self.text.split("\n")
        prefix = f"{self.status} " if self.status else ""
        out = [f"{self.code}-{prefix}{line}" for line in lines[:-1]]
        out.append(f"{self.code} {prefix}{lines[-1]}")
        object.__setattr__(self, "wire", ("\r\n".join(out) + "\r\n").encode("utf-8"))

    def __str__(self) -> str:
        return self.wire.decode("utf-8").rstrip("\r\n")

    def to_bytes(self) -> bytes:
        return self.wire

    def with_text(self, text: str) -> Reply:
        return replace(self, text=text)

    @property
    def is_error(self) -> bool:
        return self.code >= 400

    @property
    def closes(self) -> bool:
        """421 and 221 end the session (RFC 5321 §3.8)."""
        return self.code in (221, 421)


# -- positive ------------------------------------------------------------------
OK = Reply(250, "2.0.0", "OK")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
QUEUED = Reply(250, "2.0.0", "OK: message accepted")
BDAT_OK = Reply(250, "2.0.0", "OK: chunk received")
RESET_OK = Reply(250, "2.0.0", "Reset OK")
START_DATA = Reply(354, "", "End data with <CR><LF>.<CR><LF>")
BYE = Reply(221, "2.0.0", "Bye")
READY_TLS = Reply(220, "2.0.0", "Ready to start TLS")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
CANNOT_VRFY = Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")
HELP = Reply(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT")

# -- the DESIGN.md error table ---------------------------------------------------
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
SENDER_NOT_OWNED = Reply(553, "5.7.1", "Sender address rejected: not owned by auth user")
RELAY_DENIED = Reply(554, "5.7.1", "Relay access denied")
SPAM = Reply(554, "5.7.1", "Message rejected under suspicion of SPAM")
# Sender authentication at the MX (senderauth.py); the texts name the domain.
NOT_AUTHENTICATED_FOR_DOMAIN = Reply(
    550, "5.7.1", "Sender address rejected: not authenticated for this domain"
)
SIEVE_REJECTED = Reply(550, "5.7.1", "Rejected by the recipient's rules")  # text: the reason
SENDER_AUTH_REFUSED = Reply(550, "5.7.1", "Rejected by sender authentication policy")
SENDER_AUTH_DEFERRED = Reply(451, "4.4.3", "Sender authentication lookup failed, try again later")
BAD_CREDENTIALS = Reply(535, "5.7.8", "Authentication credentials invalid")

# -- recipients and delivery -----------------------------------------------------
UNKNOWN_USER = Reply(550, "5.1.1", "Recipient address rejected: user unknown")
LOCAL_ONLY = Reply(
    550, "5.7.1", "Recipient address rejected: this port delivers only to local domains"
)
MAILBOX_FULL_TEMP = Reply(452, "4.2.2", "Mailbox full")
MAILBOX_FULL = Reply(552, "5.2.2", "Mailbox full")
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
GREYLISTED = Reply(451, "4.7.1", "Greylisted, please try again later")
LINE_TOO_LONG_DATA = Reply(554, "5.6.0", "Message contains a line longer than 998 characters")
NUL_IN_MESSAGE = Reply(554, "5.6.0", "Message contains NUL characters")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
NEED_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
BAD_SENDER = Reply(501, "5.1.7", "Bad sender address syntax")
BAD_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")
TEMP_FAILURE = Reply(451, "4.3.0", "Temporary failure, please try again later")
# The store is down or full (store/faults.py); RFC 3463 §3.4: X.3.0 other or
# undefined mail system status, X.3.1 mail system full.
STORE_UNAVAILABLE = Reply(451, "4.3.0", "Mail store unavailable, please try again later")
STORAGE_FULL = Reply(452, "4.3.1", "Insufficient system storage, please try again later")

# -- protocol errors ---------------------------------------------------------------
SYNTAX_ERROR = Reply(500, "5.5.2", "Syntax error, command unrecognized")
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
BAD_ARGUMENTS = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")
BAD_PARAMETER = Reply(555, "5.5.4", "Unsupported or invalid MAIL/RCPT parameter")
NEED_HELO = Reply(503, "5.5.1", "Send EHLO or HELO first")
NEED_MAIL = Reply(503, "5.5.1", "Need MAIL command first")
NEED_RCPT = Reply(503, "5.5.1", "Need RCPT command first")
NESTED_MAIL = Reply(503, "5.5.1", "Sender already specified")
IN_TRANSACTION = Reply(503, "5.5.1", "Not allowed during a mail transaction")
BDAT_THEN_DATA = Reply(503, "5.5.1", "DATA not allowed after BDAT")
BINARY_NEEDS_BDAT = Reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT")
ALREADY_AUTHENTICATED = Reply(503, "5.5.1", "Already authenticated")
AUTH_NOT_AVAILABLE = Reply(503, "5.5.1", "AUTH not available on this port")
TLS_ACTIVE = Reply(503, "5.5.1", "TLS already active")
TLS_NOT_AVAILABLE = Reply(454, "4.7.0", "TLS not available")
ENCRYPTION_REQUIRED = Reply(
    538, "5.7.11", "Encryption required for requested authentication mechanism"
)
UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_CANCELLED = Reply(501, "5.7.0", "Authentication cancelled")
AUTH_MALFORMED = Reply(501, "5.5.2", "Cannot decode response")
AUTH_THROTTLED = Reply(454, "4.7.0", "Too many failed login attempts, try again later")
# The account's password was right but two-factor sign-in is on (Gmail answers 534 5.7.9).
APP_PASSWORD_REQUIRED = Reply(
    534, "5.7.9", "Two-factor sign-in is on for this account: use an app password"
)
AUTH_TEMP_FAILURE = Reply(454, "4.7.0", "Temporary authentication failure")

# -- session endings (421 closes the connection) -------------------------------------
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection")
TOO_MANY_COMMANDS = Reply(421, "4.7.0", "Too many commands, closing connection")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections from your address")
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection")
SERVER_BUSY = Reply(421, "4.3.2", "Too many connections, try again later")
LOGGED_OUT = Reply(421, "4.7.0", "Session ended: logged out on all devices")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, closing connection")
INTERNAL_ERROR = Reply(421, "4.3.0", "Internal server error, closing connection")
