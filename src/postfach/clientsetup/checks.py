"""What the doctor checks and what it reports: targets, options, results.

`CheckResult` is what `postfach doctor`, its `--json` and the web page render:
one per step and protocol, with plain words (`summary`), what to change
(`hint`) and the server's own words (`detail`). The password never appears in
any of them.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass

__all__ = [
    "PROTOCOLS",
    "CheckOptions",
    "CheckResult",
    "Status",
    "Step",
    "Target",
    "parse_target",
    "usual_port",
    "usual_ports",
]

PROTOCOLS = ("IMAP", "POP3", "SMTP")
SECURITIES = ("SSL/TLS", "STARTTLS", "none")


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"  # works, but something should change (self-signed, no encryption)
    FAIL = "fail"
    SKIP = "skip"  # not tried: no password given, or nothing to check


class Step(enum.StrEnum):
    SETUP = "settings"
    RESOLVE = "name resolution"
    CONNECT = "connection"
    TLS = "encryption"
    GREETING = "greeting"
    CAPABILITIES = "capabilities"
    LOGIN = "login"
    SEND_AS = "sender address"


@dataclass(frozen=True, slots=True)
class CheckResult:
    protocol: str  # "IMAP", "POP3", "SMTP"; "" for the whole run
    step: Step
    status: Status
    summary: str  # plain words: what happened
    hint: str = ""  # what to change, when something should change
    detail: str = ""  # the server's words or the technical reason
    target: str = ""  # "host:port (security)"

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["step"] = self.step.value
        data["status"] = self.status.value
        return data


@dataclass(frozen=True, slots=True)
class Target:
    """One server as a mail program is told it: host, port and connection security."""

    protocol: str  # "IMAP", "POP3", "SMTP"
    host: str
    port: int
    security: str  # "SSL/TLS", "STARTTLS" or "none"
    username: str = ""  # empty: the address

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} ({self.security})"


_USUAL = {
    "IMAP": ((993, "SSL/TLS"), (143, "STARTTLS")),
    "POP3": ((995, "SSL/TLS"), (110, "STARTTLS")),
    "SMTP": ((465, "SSL/TLS"), (587, "STARTTLS")),
}
_SECURITY_WORDS = {
    "ssl": "SSL/TLS",
    "tls": "SSL/TLS",
    "ssl/tls": "SSL/TLS",
    "implicit": "SSL/TLS",
    "starttls": "STARTTLS",
    "stls": "STARTTLS",
    "none": "none",
    "plain": "none",
    "off": "none",
}


def usual_ports(protocol: str) -> str:
    """'993 (SSL/TLS) or 143 (STARTTLS)'."""
    return " or ".join(f"{port} ({security})" for port, security in _USUAL[protocol])


def usual_port(protocol: str, security: str) -> int:
    """993 for IMAP with SSL/TLS, 587 for SMTP with STARTTLS, ..."""
    return next(port for port, sec in _USUAL[protocol] if sec == security)


def default_security(protocol: str, port: int) -> str:
    for usual_port, security in _USUAL[protocol]:
        if port == usual_port:
            return security
    return "SSL/TLS" if port in (993, 995, 465) else "STARTTLS"


def parse_target(protocol: str, text: str) -> Target:
    """`HOST:PORT[/ssl|/starttls|/none]`; without the suffix, guessed from the port."""
    spec, _, security_word = text.strip().partition("/")
    host, sep, port_text = spec.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--{protocol.lower()} {text!r}: expected HOST:PORT[/ssl|/starttls|/none]")
    port = int(port_text)
    if security_word:
        security = _SECURITY_WORDS.get(security_word.lower())
        if security is None:
            raise ValueError(f"--{protocol.lower()} {text!r}: security is ssl, starttls or none")
    else:
        security = default_security(protocol, port)
    return Target(protocol, host, port, security)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, slots=True)
class CheckOptions:
    timeout: float = 10.0  # for every single step: DNS, connect, TLS, each reply
    greeting_wait: float = 5.0  # plaintext: then try whether the port speaks TLS instead
    cafile: str | None = None  # trust this certificate (or CA) besides the system's
    http: tuple[str, int] | None = None  # a web port whose Date header tells the server's clock
    now: Callable[[], datetime.datetime] = _utcnow
