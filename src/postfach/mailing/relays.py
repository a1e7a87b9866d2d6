"""Relay settings (R22): what a relay is, checked before it is stored.

Security is one of `none` (plain SMTP), `tls` (implicit TLS, "SSL/TLS", port
465, RFC 8314) or `starttls` (RFC 3207). `[mailing] forbid_port_25` refuses
external relays on port 25, where most providers neither accept submissions
nor allow outbound connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postfach.mailing.addresses import AddressError, normalize_address

__all__ = [
    "DEFAULT_PORTS",
    "RelayConfigError",
    "RelaySettings",
    "parse_security",
]

DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
_SECURITY_NAMES = {
    "none": "none",
    "plain": "none",
    "tls": "tls",
    "ssl": "tls",
    "ssl/tls": "tls",
    "implicit": "tls",
    "starttls": "starttls",
}


class RelayConfigError(ValueError):
    """A relay setting that cannot work; the message is for the operator."""


def parse_security(text: str) -> str:
    try:
        return _SECURITY_NAMES[text.strip().lower()]
    except KeyError:
        raise RelayConfigError(
            f"security {text!r}: expected none, tls (SSL/TLS) or starttls"
        ) from None


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """A relay as the operator describes it (the password still in plain text)."""

    name: str
    kind: str  # "internal" or "external"
    sender_address: str
    sender_name: str = ""
    host: str = ""
    port: int = 0
    security: str = "starttls"
    tls_verify: bool = True
    login: str = ""
    password: str = field(default="", repr=False)
    allow_substitution: bool = False
    hourly_limit: int = 0
    daily_limit: int = 0
    position: int | None = None
    enabled: bool = True
    concurrency: int = 2
    per_connection: int = 100

    def checked(self, forbid_port_25: bool) -> RelaySettings:
        """A copy with defaults filled in; raises RelayConfigError."""
        if not self.name.strip():
            raise RelayConfigError("a relay needs a name")
        if self.kind not in {"internal", "external"}:
            raise RelayConfigError(f"kind {self.kind!r}: expected internal or external")
        try:
            sender = normalize_address(self.sender_address)
        except AddressError as exc:
            raise RelayConfigError(f"sender address: {exc}") from None
        security = parse_security(self.security)
        port = self.port or DEFAULT_PORTS[security]
        if self.kind == "external":
            _check_external(self.host, port, forbid_port_25)
        for label, value in (
            ("hourly limit", self.hourly_limit),
            ("daily limit", self.daily_limit),
        ):
            if value < 0:
                raise RelayConfigError(f"{label} must be 0 (no limit) or more")
        if self.concurrency < 1 or self.per_connection < 1:
            raise RelayConfigError("concurrency and messages per connection must be at least 1")
        return RelaySettings(
            **{
                **{f: getattr(self, f) for f in self.__dataclass_fields__},
                "sender_address": sender,
                "security": security,
                "port": port if self.kind == "external" else 0,
            }
        )


def _check_external(host: str, port: int, forbid_port_25: bool) -> None:
    if not host.strip():
        raise RelayConfigError("an external relay needs a host")
    if not 0 < port < 65536:
        raise RelayConfigError(f"port {port}: expected 1 to 65535")
    if port == 25 and forbid_port_25:
        raise RelayConfigError(
            "port 25 is forbidden for external relays ([mailing] forbid_port_25 = true): "
            "use the provider's submission port, 587 (STARTTLS) or 465 (SSL/TLS)"
        )
