"""Settings of a domain nobody has a preset for: autoconfig and SRV records.

Two public ways a domain announces its mail servers:

- Thunderbird autoconfig ("ISPDB" format, config-v1.1.xml) published at the
  domain: `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=...`
  or `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`.
- RFC 6186 SRV records `_imaps._tcp`, `_imap._tcp`, `_pop3s._tcp`, `_pop3._tcp`,
  `_submission._tcp`, plus `_submissions._tcp` from RFC 8314 §5.1.

Every lookup is time-limited and injectable: `Discovery(fetch=..., srv=...)`.
Tests serve autoconfig XML from a loopback HTTP server and answer SRV queries
with a stub; nothing here needs the network to be tested. `parse_autoconfig`
is pure: any bytes give a list of rows or an empty list, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from xml.etree import ElementTree

from postfach.clientsetup.own import ServerSetting

__all__ = [
    "AUTOCONFIG_URLS",
    "Discovered",
    "Discovery",
    "SrvRecord",
    "parse_autoconfig",
    "rows_from_srv",
]

MAX_XML = 256 * 1024
_T = TypeVar("_T")

AUTOCONFIG_URLS: tuple[str, ...] = (
    "https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}",
    "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={address}",
    "http://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}",
)


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # "." means: the service is not offered (RFC 2782)


Fetch = Callable[[str, float], Awaitable[bytes | None]]
SrvLookup = Callable[[str, float], Awaitable[list[SrvRecord]]]


@dataclass(frozen=True, slots=True)
class Discovered:
    source: str  # "autoconfig" or "srv"
    rows: list[ServerSetting]
    provider: str = ""
    reference: str = ""  # the URL or the record names consulted


# -- autoconfig -------------------------------------------------------------------

_SOCKET_TYPES = {"SSL": "SSL/TLS", "STARTTLS": "STARTTLS", "PLAIN": "none"}
_KINDS = {"imap": ("incoming", "IMAP"), "pop3": ("incoming", "POP3"), "smtp": ("outgoing", "SMTP")}


def _fill(template: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return (
        template.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", local)
        .replace("%EMAILDOMAIN%", domain)
    )


def _server_row(node: ElementTree.Element, address: str) -> ServerSetting | None:
    kind = _KINDS.get((node.get("type") or "").lower())
    host = _fill((node.findtext("hostname") or "").strip(), address)
    port_text = (node.findtext("port") or "").strip()
    if kind is None or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    socket_type = (node.findtext("socketType") or "").strip().upper()
    security = _SOCKET_TYPES.get(socket_type, socket_type.lower() or "unknown")
    user = _fill((node.findtext("username") or "%EMAILADDRESS%").strip(), address)
    note = ""
    if (node.findtext("authentication") or "").strip().lower() == "oauth2":
        note = "sign-in with OAuth2"
    return ServerSetting(kind[0], kind[1], host, int(port_text), security, user, note)


def parse_autoconfig(xml: bytes, address: str) -> tuple[str, list[ServerSetting]]:
    """The provider's display name and its servers; ("", []) for anything unusable."""
    if len(xml) > MAX_XML or b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        return "", []  # no DTDs: nothing to expand
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - no DTD allowed, size-capped
    except (ElementTree.ParseError, ValueError):
        return "", []
    provider = root.find("emailProvider")
    if provider is None:
        return "", []
    rows = []
    for node in provider.iter():
        if node.tag in ("incomingServer", "outgoingServer"):
            row = _server_row(node, address)
            if row is not None:
                rows.append(row)
    name = (provider.findtext("displayName") or provider.get("id") or "").strip()
    return name, rows


def _urlopen(url: str, timeout: float) -> bytes | None:
    # fetch_url lets only http and https through
    request = urllib.request.Request(url, headers={"User-Agent": "postfach-settings"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                return None
            data: bytes = response.read(MAX_XML + 1)
            return data
    except (OSError, ValueError):
        return None


async def fetch_url(url: str, timeout: float) -> bytes | None:
    """GET `url` off the event loop; None on any failure or after `timeout` seconds."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    try:
        async with asyncio.timeout(timeout + 1):
            return await asyncio.to_thread(_urlopen, url, timeout)
    except TimeoutError:
        return None


# -- SRV (RFC 6186, RFC 8314) -------------------------------------------------------

# In order of preference: implicit TLS first (RFC 8314 §5.1).
_SRV_SERVICES = (
    ("_imaps._tcp", "incoming", "IMAP", "SSL/TLS"),
    ("_imap._tcp", "incoming", "IMAP", "STARTTLS"),
    ("_pop3s._tcp", "incoming", "POP3", "SSL/TLS"),
    ("_pop3._tcp", "incoming", "POP3", "STARTTLS"),
    ("_submissions._tcp", "outgoing", "SMTP", "SSL/TLS"),
    ("_submission._tcp", "outgoing", "SMTP", "STARTTLS"),
)


async def dns_srv(name: str, timeout: float) -> list[SrvRecord]:
    """SRV records of `name` by dnspython; [] when there are none or DNS fails."""
    import dns.asyncresolver
    import dns.exception

    try:
        answer = await dns.asyncresolver.resolve(name, "SRV", lifetime=timeout)
    except (dns.exception.DNSException, OSError):
        return []
    return [
        SrvRecord(r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True) or ".")
        for r in answer
    ]


def rows_from_srv(
    found: Sequence[tuple[str, list[SrvRecord]]], address: str
) -> list[ServerSetting]:
    """One row per service that is offered: the best record (lowest priority, then weight)."""
    rows = []
    for service, records in found:
        meta = next((s for s in _SRV_SERVICES if s[0] == service), None)
        usable = [r for r in records if r.target not in (".", "") and r.port > 0]
        if meta is None or not usable:
            continue
        best = min(usable, key=lambda r: (r.priority, -r.weight))
        rows.append(ServerSetting(meta[1], meta[2], best.target, best.port, meta[3], address))
    return rows


# -- the two together ----------------------------------------------------------------


@dataclass
class Discovery:
    """Where and how long to look; every part can be swapped for tests."""

    timeout: float = 5.0
    autoconfig_urls: Sequence[str] = AUTOCONFIG_URLS
    fetch: Fetch = fetch_url
    srv: SrvLookup = dns_srv
    use_autoconfig: bool = True
    use_srv: bool = True
    tried: list[str] = field(default_factory=list)

    async def discover(self, address: str) -> Discovered | None:
        domain = address.rpartition("@")[2].lower()
        if self.use_autoconfig:
            found = await self._autoconfig(address, domain)
            if found is not None:
                return found
        if self.use_srv:
            return await self._srv(address, domain)
        return None

    async def _autoconfig(self, address: str, domain: str) -> Discovered | None:
        quoted = urllib.parse.quote(address, safe="@")
        for template in self.autoconfig_urls:
            url = template.format(domain=domain, address=quoted)
            self.tried.append(url)
            data = await self._bounded(self.fetch(url, self.timeout))
            if not data:
                continue
            provider, rows = parse_autoconfig(data, address)
            if rows:
                return Discovered("autoconfig", rows, provider, url)
        return None

    async def _srv(self, address: str, domain: str) -> Discovered | None:
        names = [f"{service}.{domain}" for service, *_ in _SRV_SERVICES]
        self.tried.extend(names)
        answers = await asyncio.gather(
            *(self._bounded(self.srv(name, self.timeout)) for name in names)
        )
        found = [(s[0], a or []) for s, a in zip(_SRV_SERVICES, answers, strict=True)]
        rows = rows_from_srv(found, address)
        if not rows:
            return None
        return Discovered("srv", rows, "", ", ".join(names))

    async def _bounded(self, awaitable: Awaitable[_T]) -> _T | None:
        """Any lookup, cut off after the timeout; a failing stub counts as no answer."""
        with contextlib.suppress(Exception):
            # a little longer than the lookups' own limit, which they should honour
            async with asyncio.timeout(self.timeout * 1.2 + 0.05):
                return await awaitable
        return None
