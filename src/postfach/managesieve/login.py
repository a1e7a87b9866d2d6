"""The commands of either state: CAPABILITY, STARTTLS, AUTHENTICATE, NOOP,
LOGOUT and UNAUTHENTICATE (RFC 5804 §2.1-2.4, §2.13, §2.14).

AUTHENTICATE runs the one SASL exchange (auth/sasl.py) with PLAIN only, its
initial response in the command or its response to the empty challenge on the
next line (§2.1). Every way in ends in `ctx.auth.authenticate` with protocol
"managesieve": the same throttle, log lines and app passwords as IMAP. Before
STARTTLS, PLAIN is refused unless `auth.allow_plaintext` is set (ENCRYPT-NEEDED),
as IMAP says LOGINDISABLED. Passwords are never logged or echoed.
"""

from __future__ import annotations

from postfach.auth import AuthFailure
from postfach.auth.sasl import Challenge, Failure, FailureKind, SaslExchange, Step
from postfach.managesieve import responses
from postfach.managesieve.commands import (
    Authenticate,
    Capability,
    Logout,
    Noop,
    StartTls,
    Unauthenticate,
)
from postfach.managesieve.parser import parse_sasl_response
from postfach.managesieve.responses import SieveNo
from postfach.managesieve.state import Conversation

__all__ = [
    "authenticate",
    "capability",
    "logout",
    "noop",
    "sasl_step",
    "starttls",
    "unauthenticate",
]

MECHANISM = "PLAIN"
AUTH_FAILED = "Authentication failed"


async def capability(s: Conversation, cmd: Capability) -> None:
    s.out.append(s.capability_reply("Capability completed"))


async def noop(s: Conversation, cmd: Noop) -> None:
    """§2.13: a tag given comes back in a TAG response code (when it fits in quotes)."""
    tag = None if cmd.tag is None else cmd.tag.encode("utf-8")
    code = "TAG " + responses.string(tag).decode("utf-8") if tag and responses.quotable(tag) else ""
    s.out.append(responses.ok("Done", code))


async def logout(s: Conversation, cmd: Logout) -> None:
    s.out.append(responses.ok("Logout completed"))
    s.closing = True


async def unauthenticate(s: Conversation, cmd: Unauthenticate) -> None:
    s.logged_out()
    s.out.append(responses.ok("Unauthenticate completed"))


async def starttls(s: Conversation, cmd: StartTls) -> None:
    """§2.2: OK, then the handshake; the server sends the capabilities again after it."""
    if not s.starttls_offered:
        raise SieveNo("TLS is already active")
    s.out.append(responses.ok("Begin TLS negotiation now"))
    s.want_tls = True


async def authenticate(s: Conversation, cmd: Authenticate) -> None:
    if not s.login_allowed:
        raise SieveNo("Use STARTTLS before authenticating", "ENCRYPT-NEEDED")
    if cmd.mechanism != MECHANISM:
        raise SieveNo("Unsupported SASL mechanism; use PLAIN")
    exchange = SaslExchange(MECHANISM)
    await _step(s, exchange, exchange.start(cmd.initial))


async def sasl_step(s: Conversation, data: bytes) -> None:
    """The client's answer to a challenge: a string, "*" to cancel (§2.1)."""
    exchange, s.sasl = s.sasl, None
    response = parse_sasl_response(data)
    if exchange is None or not isinstance(response, bytes):
        raise SieveNo("Invalid SASL response")
    await _step(s, exchange, exchange.respond(response))


async def _step(s: Conversation, exchange: SaslExchange, step: Step) -> None:
    if isinstance(step, Challenge):
        s.sasl = exchange
        s.out.append(responses.string(step.encoded) + b"\r\n")
        return
    if isinstance(step, Failure):
        if step.kind is FailureKind.CANCELLED:
            raise SieveNo("Authentication cancelled")
        raise SieveNo("Invalid SASL response")
    if step.authzid and step.authzid != step.authcid:
        raise SieveNo("Acting as another user is not supported")
    result = await s.ctx.auth.authenticate(step.authcid, step.password, "managesieve", s.env.ip)
    if result.failure is AuthFailure.THROTTLED:
        raise SieveNo("Too many failed logins, try again later", "TRYLATER")
    if not result.ok or result.account is None:
        raise SieveNo(AUTH_FAILED)
    s.logged_in(result.account)
    s.out.append(responses.ok("Logged in"))
