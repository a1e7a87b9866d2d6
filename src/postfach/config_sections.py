"""Sections of the configuration file for running in the open and for rules:
certificates (ACME, MTA-STS), a load balancer in front (PROXY protocol), logs,
metrics, and Sieve. `postfach.config` reads them with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AcmeConfig",
    "LogConfig",
    "MetricsConfig",
    "MtaStsConfig",
    "ProxyConfig",
    "SieveConfig",
]


@dataclass(frozen=True, slots=True)
class AcmeConfig:
    """Certificates from an ACME CA (RFC 8555), e.g. Let's Encrypt (certs/)."""

    enabled: bool = False  # also on when `email` is set
    email: str = ""  # the account's contact: the CA warns there of expiring certificates
    directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    ca_bundle: str = ""  # CA certificates to trust for the directory; empty: the system's
    # Challenge types in order of preference; each needs its listener (http, https).
    challenges: tuple[str, ...] = ("http-01", "tls-alpn-01")
    check_interval: float = 12 * 3600.0  # seconds between checks for certificates due

    @property
    def active(self) -> bool:
        return self.enabled or bool(self.email)


@dataclass(frozen=True, slots=True)
class MtaStsConfig:
    """The MTA-STS policy (RFC 8461) served at https://mta-sts.DOMAIN/."""

    mode: str = "testing"  # testing, enforce or none
    max_age: int = 7 * 86400  # seconds senders keep the policy


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """A load balancer in front (HAProxy): whose word on the client's address counts."""

    # Networks of the proxies: a PROXY header is taken only from these, and the web
    # listener believes X-Forwarded-For and Forwarded only from these.
    trusted: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # Listeners that require a PROXY header (v1 or v2) on every connection; a
    # connection from outside `trusted`, or without a valid header, is closed.
    protocol_listeners: tuple[str, ...] = ()
    header_timeout: float = 5.0  # seconds for the header to arrive


@dataclass(frozen=True, slots=True)
class LogConfig:
    format: str = "text"  # "text" or "json" (one object a line)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    # Bearer token for /metrics besides HTTP basic auth of an admin account; empty: none.
    token: str = ""


@dataclass(frozen=True, slots=True)
class SieveConfig:
    # Redirects (forwards) one account's Sieve scripts may send per hour; past
    # that, a message to redirect is kept in the Inbox instead (and logged).
    redirects_per_hour: int = 100
    # Vacation's :days is raised to 1 and lowered to this (RFC 5230 §4.1).
    vacation_max_days: int = 60
