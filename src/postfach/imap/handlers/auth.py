"""Any-state and login commands: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS,
LOGIN, AUTHENTICATE (RFC 9051 §6.1-6.2, RFC 2971, RFC 5161, RFC 4959 SASL-IR).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postfach.auth import AuthFailure
from postfach.auth.sasl import Challenge, Failure, FailureKind, SaslExchange
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import Bad, No
from postfach.imap.state import ENABLEABLE

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["authenticate", "capability", "enable", "id_", "login", "logout", "noop", "starttls"]


async def capability(s: Session, cmd: c.Capability) -> str:
    s.conn.write(r.untagged("CAPABILITY " + s.capabilities()))
    return "CAPABILITY completed"


async def noop(s: Session, cmd: c.Noop) -> str:
    return "NOOP completed"


async def logout(s: Session, cmd: c.Logout) -> str:
    """RFC 9051 §6.1.3: untagged BYE, then the tagged OK; the server closes."""
    s.conn.write(r.untagged("BYE Logging out"))
    s.close()
    return "LOGOUT completed"


async def id_(s: Session, cmd: c.Id) -> str:
    """RFC 2971: the server's identification; the client's is only logged."""
    s.conn.write(r.untagged('ID ("name" "postfach" "vendor" "postfach")'))
    return "ID completed"


async def enable(s: Session, cmd: c.Enable) -> str:
    """RFC 5161; RFC 7162 §3.2.3 (QRESYNC implies CONDSTORE); RFC 9051 §6.3.1."""
    newly: list[str] = []
    for cap in cmd.capabilities:
        if cap in ENABLEABLE and cap not in s.enabled:
            if cap == "QRESYNC" and "CONDSTORE" not in s.enabled:
                s.enable("CONDSTORE")
            s.enable(cap)
            newly.append(cap)
    names = {"IMAP4REV2": "IMAP4rev2"}
    s.conn.write(r.untagged(" ".join(["ENABLED", *(names.get(n, n) for n in newly)])))
    return "ENABLE completed"


async def starttls(s: Session, cmd: c.StartTls) -> str | None:
    """RFC 9051 §6.2.1: OK, then the TLS handshake; earlier pipelined input is dropped."""
    if s.conn.tls or not s.conn.plaintext_port:
        raise Bad("TLS is already active")
    s.conn.write(r.tagged(cmd.tag, "OK", "Begin TLS negotiation now"))
    await s.conn.flush()
    await s.conn.start_tls()
    return None


async def login(s: Session, cmd: c.Login) -> str:
    await _authenticate(s, cmd.user, cmd.password)
    return f"[CAPABILITY {s.capabilities()}] Logged in"


async def _authenticate(s: Session, user: str, password: str) -> None:
    if not s.login_allowed:
        raise No(r.PRIVACY_REQUIRED, "PRIVACYREQUIRED")
    result = await s.ctx.auth.authenticate(user, password, "imap", s.conn.ip)
    if result.ok and result.account is not None:
        s.logged_in(result.account)
        return
    if result.failure is AuthFailure.DISABLED:
        raise No(r.IMAP_DISABLED, "UNAVAILABLE")
    if result.failure is AuthFailure.THROTTLED:
        raise No(r.THROTTLED, "UNAVAILABLE")
    if result.failure is AuthFailure.APP_PASSWORD_REQUIRED:
        raise No(r.APP_PASSWORD_REQUIRED, "AUTHENTICATIONFAILED")
    raise No(r.AUTH_FAILED, "AUTHENTICATIONFAILED")


async def authenticate(s: Session, cmd: c.Authenticate) -> str:
    """RFC 9051 §6.2.2 with PLAIN (RFC 4616) and LOGIN; `*` cancels."""
    if not s.login_allowed:
        raise No(r.PRIVACY_REQUIRED, "PRIVACYREQUIRED")
    exchange = SaslExchange(cmd.mechanism)
    # An empty LOGIN initial response ("=") is taken as none: the username is asked for.
    initial = cmd.initial if cmd.mechanism == "PLAIN" else cmd.initial or None
    step, answered = exchange.start(initial), False
    while isinstance(step, Challenge):
        s.conn.write(b"+ " + step.encoded + b"\r\n")
        await s.conn.flush()
        step, answered = exchange.respond((await s.conn.read_line()).rstrip(b"\r\n")), True
    if isinstance(step, Failure):
        raise _sasl_failure(step.kind, answered)
    if step.authzid and step.authzid != step.authcid:
        raise No("Proxy authorization is not supported", "AUTHORIZATIONFAILED")
    await _authenticate(s, step.authcid, step.password)
    return f"[CAPABILITY {s.capabilities()}] Logged in"


def _sasl_failure(kind: FailureKind, answered: bool) -> Bad | No:
    """`answered`: the failing response answered a "+" challenge (not SASL-IR)."""
    if kind is FailureKind.UNSUPPORTED:
        return No("Unsupported authentication mechanism", "CANNOT")
    if kind is FailureKind.CANCELLED:
        return Bad("Authentication cancelled")
    if kind is FailureKind.BAD_BASE64 and answered:
        return Bad("Invalid base64 in SASL response")
    return Bad("Invalid SASL response")
