"""Checks on strangers at the MX, made at RCPT: DNS blocklists and greylisting.

Both are off by default (`[mx]`), and neither touches a logged-in sender.

DNSBL (RFC 5782): the client's address, reversed (IPv4 octets, IPv6 nibbles),
is looked up under each zone; an A record in 127.0.0.0/8 means listed, except
127.255.255.0/24, which Spamhaus uses to say "this resolver may not ask" rather
than "listed". No answer within the timeout counts as not listed: a blocklist
that is down must not stop the mail. Answers are kept for a minute per address.
Checked at RCPT rather than at connect: by then a client that logs in (port 25
allows AUTH) has shown who it is, and mail to postmaster@ and abuse@ can still
pass, so a listed sender can reach us about the listing.

Greylisting: a new (client /24 or /64, sender, recipient) gets 451 until it
comes back `greylist_delay` seconds later (real MTAs retry; most spam engines do
not); then it passes at once for `greylist_expire` seconds (store/greylist.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

import dns.asyncresolver
import dns.exception
import dns.resolver

from postfach.config import MxConfig, parse_host_port
from postfach.recipients import is_role_address
from postfach.smtp import replies
from postfach.store.api import StoreApi

__all__ = ["MxChecks", "client_network", "dnsbl_name"]

log = logging.getLogger(__name__)

_CACHE_TTL = 60.0
_CACHE_SIZE = 10_000
_FORGET_EVERY = 3600.0  # seconds between sweeps of expired greylist triplets
_LISTED = ipaddress.ip_network("127.0.0.0/8")
_RESOLVER_ERRORS = ipaddress.ip_network("127.255.255.0/24")  # Spamhaus: refused, not listed


def dnsbl_name(ip: str, zone: str) -> str:
    """The name to look up (RFC 5782 §2.1 and §2.4)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        labels = str(address).split(".")
    else:
        labels = list(address.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + "." + zone.strip(".")


def client_network(ip: str) -> str:
    """The network greylisting keys on: a /24 for IPv4, a /64 for IPv6 (a sender's
    retries may leave from another host of the same pool)."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _blocked(ip: str, zone: str) -> replies.Reply:
    return replies.Reply(554, "5.7.1", f"Service unavailable; client [{ip}] blocked using {zone}")


class MxChecks:
    def __init__(self, config: MxConfig, store: StoreApi) -> None:
        self.config = config
        self.store = store
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._listings: dict[str, tuple[float, str | None]] = {}
        self._forgotten_at = 0.0
        self._complained: dict[str, float] = {}  # zone: when its silence was last logged

    @property
    def active(self) -> bool:
        return bool(self.config.dnsbl) or self.config.greylist

    async def refusal(self, ip: str, sender: str, recipient: str) -> replies.Reply | None:
        """The reply refusing this recipient from this stranger, or None."""
        if self.config.dnsbl and not is_role_address(recipient):
            zone = await self.listed(ip)
            if zone is not None:
                return _blocked(ip, zone)
        if self.config.greylist and not await self._greylist_passes(ip, sender, recipient):
            return replies.GREYLISTED
        return None

    # -- DNSBL ---------------------------------------------------------------------
    async def listed(self, ip: str) -> str | None:
        """The first configured zone listing `ip`, or None."""
        now = time.monotonic()
        hit = self._listings.get(ip)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None  # a UNIX socket or the like: nothing to look up
        found = await asyncio.gather(*(self._lookup(ip, zone) for zone in self.config.dnsbl))
        zone = next((z for z, listed in zip(self.config.dnsbl, found, strict=True) if listed), None)
        if len(self._listings) >= _CACHE_SIZE:
            self._listings.clear()
        self._listings[ip] = (now + _CACHE_TTL, zone)
        return zone

    async def _lookup(self, ip: str, zone: str) -> bool:
        name = dnsbl_name(ip, zone)
        try:
            answer = await self.resolver().resolve(name, "A")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return False
        except (dns.exception.DNSException, OSError) as exc:
            self._complain(zone, exc)
            return False
        codes = [ipaddress.ip_address(record.to_text()) for record in answer]
        return any(c in _LISTED and c not in _RESOLVER_ERRORS for c in codes)

    def _complain(self, zone: str, exc: Exception) -> None:
        """A silent zone is logged once a minute, not once per client."""
        now = time.monotonic()
        if now - self._complained.get(zone, -_CACHE_TTL) >= _CACHE_TTL:
            self._complained[zone] = now
            kind = type(exc).__name__
            log.warning("DNSBL %s gives no answer (%s): taken as not listed", zone, kind)

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self.config.dnsbl_resolver:
                host, port = parse_host_port(
                    self.config.dnsbl_resolver, "mx.dnsbl_resolver", "config"
                )
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [host]
                resolver.port = port
            else:
                resolver = dns.asyncresolver.Resolver()
            resolver.timeout = resolver.lifetime = self.config.dnsbl_timeout
            self._resolver = resolver
        return self._resolver

    # -- greylisting -----------------------------------------------------------------
    async def _greylist_passes(self, ip: str, sender: str, recipient: str) -> bool:
        try:
            network = client_network(ip)
        except ValueError:
            return True
        await self._forget_old()
        return await self.store.greylist.passes(
            network, sender.lower(), recipient.lower(),
            delay=self.config.greylist_delay, expire=self.config.greylist_expire,
        )  # fmt: skip

    async def _forget_old(self) -> None:
        now = time.time()
        if now - self._forgotten_at >= _FORGET_EVERY:
            self._forgotten_at = now
            await self.store.greylist.forget_greylist(now - self.config.greylist_expire)
