"""The AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH (RFC 5034), STLS (RFC 2595).

Every way in ends in `_login`, which asks `ctx.auth` (argon2, app passwords,
per-protocol switches, throttling) and then `Session.enter_transaction`.
A wrong password and POP3 switched off give the same reply (DESIGN.md):
`-ERR [AUTH] login failure or POP3 disabled`. On the plain port, USER, PASS
and AUTH are refused until STLS unless `auth.allow_plaintext` is set.
Passwords are never logged or echoed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postfach.auth import AuthFailure
from postfach.auth.sasl import SaslError, b64decode_text, decode_plain
from postfach.pop3 import replies
from postfach.pop3.commands import Auth, Pass, Stls, User
from postfach.pop3.replies import Pop3Error

if TYPE_CHECKING:
    from postfach.pop3.session import Session

__all__ = ["SaslExchange", "auth", "password", "sasl_step", "stls", "user"]

MECHANISMS = ("PLAIN", "LOGIN")


@dataclass(slots=True)
class SaslExchange:
    """An AUTH in progress: the next client line is a response, not a command."""

    mechanism: str
    username: str | None = None


def _require_auth_allowed(s: Session) -> None:
    if not s.auth_allowed:
        raise Pop3Error(replies.PLAINTEXT_REFUSED)


async def user(s: Session, cmd: User) -> None:
    """RFC 1939 §7 USER: always +OK, so that names cannot be probed."""
    _require_auth_allowed(s)
    s.pending_user = cmd.name
    s.out.append(replies.USER_OK)


async def password(s: Session, cmd: Pass) -> None:
    """RFC 1939 §7 PASS: only right after USER."""
    _require_auth_allowed(s)
    name, s.pending_user = s.pending_user, None
    if name is None:
        raise Pop3Error(replies.USER_FIRST)
    await _login(s, name, cmd.secret)


async def stls(s: Session, cmd: Stls) -> None:
    """RFC 2595 §4 STLS: the server upgrades after this reply is sent."""
    if s.env.tls:
        raise Pop3Error(replies.TLS_ACTIVE)
    if not s.stls_offered:
        raise Pop3Error(replies.TLS_UNAVAILABLE)
    s.out.append(replies.TLS_GO)
    s.want_tls = True


async def auth(s: Session, cmd: Auth) -> None:
    """RFC 5034 §4 AUTH; a bare AUTH lists the mechanisms, as many clients expect."""
    _require_auth_allowed(s)
    s.pending_user = None
    if cmd.mechanism is None:
        s.out.append(replies.OK + b"".join(m.encode() + b"\r\n" for m in MECHANISMS) + b".\r\n")
        return
    if cmd.mechanism not in MECHANISMS:
        raise Pop3Error(replies.UNKNOWN_MECHANISM)
    exchange = SaslExchange(cmd.mechanism)
    if cmd.initial is None:
        s.sasl = exchange
        plain = exchange.mechanism == "PLAIN"
        s.out.append(replies.SASL_EMPTY_CHALLENGE if plain else replies.SASL_USERNAME)
        return
    await _respond(s, exchange, cmd.initial.encode("latin-1"))


async def sasl_step(s: Session, line: bytes) -> None:
    """RFC 5034 §4: one client response; "*" cancels the exchange."""
    exchange, s.sasl = s.sasl, None
    if line == b"*":
        raise Pop3Error(replies.AUTH_CANCELLED)
    await _respond(s, exchange, line)


async def _respond(s: Session, exchange: SaslExchange, response: bytes) -> None:
    if exchange.mechanism == "PLAIN":
        await _plain(s, response)
        return
    text = _b64_text(response)
    if exchange.username is None:
        exchange.username = text
        s.sasl = exchange
        s.out.append(replies.SASL_PASSWORD)
        return
    await _login(s, exchange.username, text)


async def _plain(s: Session, response: bytes) -> None:
    """RFC 4616 PLAIN: authzid NUL authcid NUL password; acting as another user is refused."""
    try:
        authzid, authcid, secret = decode_plain(b"" if response == b"=" else response)
    except SaslError:
        raise Pop3Error(replies.AUTH_BAD_BASE64) from None
    if authzid and authzid != authcid:
        raise Pop3Error(replies.LOGIN_FAILED)
    await _login(s, authcid, secret)


def _b64_text(response: bytes) -> str:
    """A LOGIN response: base64 of UTF-8 text ("=" is empty, RFC 5034 §4)."""
    if response == b"=":
        return ""
    try:
        return b64decode_text(response)
    except SaslError:
        raise Pop3Error(replies.AUTH_BAD_BASE64) from None


async def _login(s: Session, name: str, secret: str) -> None:
    result = await s.ctx.auth.authenticate(name, secret, "pop3", s.env.ip)
    if not result.ok or result.account is None:
        if result.failure is AuthFailure.THROTTLED:
            raise Pop3Error(replies.THROTTLED)
        raise Pop3Error(replies.LOGIN_FAILED)
    await s.enter_transaction(result.account)
    count, size = s.maildrop.stat()
    s.out.append(replies.ok(f"logged in, {count} messages ({size} octets)"))
