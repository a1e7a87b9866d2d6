"""The AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH (RFC 5034), STLS (RFC 2595).

Every way in ends in `_login`, which asks `ctx.auth` (argon2, app passwords,
per-protocol switches, throttling) and then `Session.enter_transaction`.
A wrong password and POP3 switched off give the same reply (DESIGN.md):
`-ERR [AUTH] login failure or POP3 disabled`. On the plain port, USER, PASS
and AUTH are refused until STLS unless `auth.allow_plaintext` is set.
Passwords are never logged or echoed.
"""

from __future__ import annotations

from typing import Protocol

from postfach.auth import AuthFailure
from postfach.auth.sasl import (
    MECHANISMS,
    Challenge,
    Failure,
    FailureKind,
    SaslExchange,
    Step,
)
from postfach.context import ServerContext
from postfach.pop3 import replies
from postfach.pop3.commands import Auth, Pass, Stls, User
from postfach.pop3.replies import Pop3Error
from postfach.store.records import Account

__all__ = ["LoginSession", "auth", "password", "sasl_step", "stls", "user"]


class Connection(Protocol):
    tls: bool
    ip: str


class Drop(Protocol):
    def stat(self) -> tuple[int, int]: ...


class LoginSession(Protocol):
    """What this state reads and sets of a session (pop3/session.py), so that the
    session can import these handlers without the handlers importing it."""

    ctx: ServerContext
    out: list[bytes]
    pending_user: str | None
    sasl: SaslExchange | None
    want_tls: bool

    @property
    def env(self) -> Connection: ...
    @property
    def maildrop(self) -> Drop: ...
    @property
    def auth_allowed(self) -> bool: ...
    @property
    def stls_offered(self) -> bool: ...
    async def enter_transaction(self, account: Account) -> None: ...


def _require_auth_allowed(s: LoginSession) -> None:
    if not s.auth_allowed:
        raise Pop3Error(replies.PLAINTEXT_REFUSED)


async def user(s: LoginSession, cmd: User) -> None:
    """RFC 1939 §7 USER: always +OK, so that names cannot be probed."""
    _require_auth_allowed(s)
    s.pending_user = cmd.name
    s.out.append(replies.USER_OK)


async def password(s: LoginSession, cmd: Pass) -> None:
    """RFC 1939 §7 PASS: only right after USER."""
    _require_auth_allowed(s)
    name, s.pending_user = s.pending_user, None
    if name is None:
        raise Pop3Error(replies.USER_FIRST)
    await _login(s, name, cmd.secret)


async def stls(s: LoginSession, cmd: Stls) -> None:
    """RFC 2595 §4 STLS: the server upgrades after this reply is sent."""
    if s.env.tls:
        raise Pop3Error(replies.TLS_ACTIVE)
    if not s.stls_offered:
        raise Pop3Error(replies.TLS_UNAVAILABLE)
    s.out.append(replies.TLS_GO)
    s.want_tls = True


async def auth(s: LoginSession, cmd: Auth) -> None:
    """RFC 5034 §4 AUTH; a bare AUTH lists the mechanisms, as many clients expect."""
    _require_auth_allowed(s)
    s.pending_user = None
    if cmd.mechanism is None:
        s.out.append(replies.OK + b"".join(m.encode() + b"\r\n" for m in MECHANISMS) + b".\r\n")
        return
    exchange = SaslExchange(cmd.mechanism)
    initial = None if cmd.initial is None else cmd.initial.encode("latin-1")
    await _step(s, exchange, exchange.start(None if initial is None else _framed(initial)))


async def sasl_step(s: LoginSession, line: bytes) -> None:
    """RFC 5034 §4: one client response; "*" cancels the exchange."""
    exchange, s.sasl = s.sasl, None
    if exchange is None:  # the session calls this only while an exchange runs
        raise Pop3Error(replies.AUTH_CANCELLED)
    await _step(s, exchange, exchange.respond(_framed(line)))


async def _step(s: LoginSession, exchange: SaslExchange, step: Step) -> None:
    """Sends the next challenge, or logs in; acting as another user is refused."""
    if isinstance(step, Challenge):
        s.sasl = exchange
        s.out.append(b"+ " + step.encoded + b"\r\n")
        return
    if isinstance(step, Failure):
        raise Pop3Error(_SASL_FAILURES[step.kind])
    if step.authzid and step.authzid != step.authcid:
        raise Pop3Error(replies.LOGIN_FAILED)
    await _login(s, step.authcid, step.password)


def _framed(response: bytes) -> bytes:
    """A response as the exchange takes it: "=" is empty (RFC 5034 §4), blanks dropped."""
    if response == b"=":
        return b""
    stripped = response.strip()
    return response if stripped == b"*" else stripped  # only a bare "*" cancels


_SASL_FAILURES = {
    FailureKind.BAD_BASE64: replies.AUTH_BAD_BASE64,
    FailureKind.MALFORMED: replies.AUTH_BAD_BASE64,
    FailureKind.CANCELLED: replies.AUTH_CANCELLED,
    FailureKind.UNSUPPORTED: replies.UNKNOWN_MECHANISM,
}


async def _login(s: LoginSession, name: str, secret: str) -> None:
    result = await s.ctx.auth.authenticate(name, secret, "pop3", s.env.ip)
    if not result.ok or result.account is None:
        if result.failure is AuthFailure.THROTTLED:
            raise Pop3Error(replies.THROTTLED)
        if result.failure is AuthFailure.APP_PASSWORD_REQUIRED:
            raise Pop3Error(replies.APP_PASSWORD_REQUIRED)
        raise Pop3Error(replies.LOGIN_FAILED)
    await s.enter_transaction(result.account)
    count, size = s.maildrop.stat()
    s.out.append(replies.ok(f"logged in, {count} messages ({size} octets)"))
