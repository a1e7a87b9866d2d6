"""SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), shared by SMTP,
IMAP and POP3 as one sans-IO exchange.

`SaslExchange` reads no socket and writes no reply: it is fed the client's
base64 responses and answers with the next `Challenge`, the final
`Credentials`, or a `Failure` whose `kind` each protocol maps to its own reply
(SMTP 334/501, IMAP "+"/BAD/NO, POP3 "+"/-ERR). Wire framing stays with the
protocols: line ends, surrounding blanks, "=" for an empty response (RFC 4954 §4,
RFC 5034 §4), and whether an authorization identity may differ from the login.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field

__all__ = [
    "LOGIN_PASSWORD_PROMPT",
    "LOGIN_USER_PROMPT",
    "MECHANISMS",
    "Challenge",
    "Credentials",
    "Failure",
    "FailureKind",
    "SaslError",
    "SaslExchange",
    "Step",
    "b64decode_text",
    "decode_plain",
]

MECHANISMS = ("PLAIN", "LOGIN")
LOGIN_USER_PROMPT = base64.b64encode(b"Username:")
LOGIN_PASSWORD_PROMPT = base64.b64encode(b"Password:")


class SaslError(ValueError):
    """The client's SASL data is malformed (bad base64 or layout)."""


class FailureKind(enum.Enum):
    BAD_BASE64 = "bad base64"  # the response is not base64
    MALFORMED = "malformed"  # base64, but not UTF-8 or not the mechanism's layout
    CANCELLED = "cancelled"  # the client answered a challenge with "*"
    UNSUPPORTED = "unsupported mechanism"


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send this prompt and feed the client's answer to `SaslExchange.respond`."""

    prompt: bytes  # decoded; empty for PLAIN

    @property
    def encoded(self) -> bytes:
        return base64.b64encode(self.prompt)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The exchange is done: authenticate `authcid` with `password`."""

    authzid: str  # "" unless PLAIN named someone to act as
    authcid: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Failure:
    """The exchange is over without credentials."""

    kind: FailureKind


Step = Challenge | Credentials | Failure

_PLAIN_CHALLENGE = Challenge(b"")
_USER_CHALLENGE = Challenge(b"Username:")
_PASSWORD_CHALLENGE = Challenge(b"Password:")
_DONE = Failure(FailureKind.MALFORMED)  # fed after the end: nothing more is expected


class SaslExchange:
    """One AUTH: `start` with the optional initial response, then `respond` to
    each `Challenge` until a `Credentials` or `Failure` ends it. Never raises.
    """

    __slots__ = ("_done", "_username", "mechanism")

    def __init__(self, mechanism: str) -> None:
        self.mechanism = mechanism.upper()
        self._username: str | None = None
        self._done = False

    def start(self, initial: bytes | None = None) -> Step:
        """`initial` is the base64 initial response, None if the client sent none."""
        if self.mechanism not in MECHANISMS:
            return self._end(Failure(FailureKind.UNSUPPORTED))
        if initial is not None:
            return self._answer(initial)
        return _PLAIN_CHALLENGE if self.mechanism == "PLAIN" else _USER_CHALLENGE

    def respond(self, response: bytes) -> Step:
        """The client's answer to a challenge; "*" cancels (RFC 4422 §3.5)."""
        if self._done or self.mechanism not in MECHANISMS:
            return self._end(_DONE)
        if response == b"*":
            return self._end(Failure(FailureKind.CANCELLED))
        return self._answer(response)

    def _answer(self, response: bytes) -> Step:
        try:
            raw = base64.b64decode(response, validate=True)
        except (binascii.Error, ValueError):
            return self._end(Failure(FailureKind.BAD_BASE64))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._end(Failure(FailureKind.MALFORMED))
        if self.mechanism == "PLAIN":
            return self._end(_plain_credentials(text))
        if self._username is None:
            self._username = text
            return _PASSWORD_CHALLENGE
        return self._end(Credentials("", self._username, text))

    def _end(self, step: Step) -> Step:
        self._done = True
        return step


def _plain_credentials(text: str) -> Credentials | Failure:
    """RFC 4616 §2: [authzid] NUL authcid NUL passwd, authcid not empty."""
    parts = text.split("\x00")
    if len(parts) != 3 or not parts[1]:
        return Failure(FailureKind.MALFORMED)
    authzid, authcid, password = parts
    return Credentials(authzid, authcid, password)


def b64decode_text(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    try:
        raw = base64.b64decode(data.strip(), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SaslError("invalid base64 data") from None


def decode_plain(data: bytes | str) -> tuple[str, str, str]:
    """Returns (authzid, authcid, password) from a base64 PLAIN response."""
    step = _plain_credentials(b64decode_text(data))
    if isinstance(step, Failure):
        raise SaslError("malformed PLAIN response")
    return step.authzid, step.authcid, step.password
