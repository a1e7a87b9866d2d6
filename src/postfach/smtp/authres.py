"""SPF, DKIM and ARC checks of inbound mail and the Authentication-Results header (RFC 8601).

SPF for the envelope sender (RFC 7208, evaluated here with dnspython, with its
limits of 10 DNS-querying terms and 2 void lookups), one DKIM result per
signature (dkimpy, keys fetched asynchronously first), the ARC chain (RFC 8617,
dkimpy's arc_verify on prefetched keys). What is done with the results is
decided in dmarc.py and senderauth.py. Every check takes its DNS through a
`Query` (`DnsLookup`: dnspython with a timeout, the configured nameservers); a
DNS failure is `temperror`. Names reserved by RFC 2606/6761 (.test, .example,
.invalid, .localhost, example.com/net/org) are never looked up: their result is
`none`.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import authres
import authres.arc
import authres.dmarc
import dkim
import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

__all__ = [
    "AuthResults",
    "DnsError",
    "DnsLookup",
    "Query",
    "check_arc",
    "check_dkim",
    "check_spf",
    "header_line",
    "is_reserved_domain",
    "remove_own_results",
]

log = logging.getLogger(__name__)

DNS_TIMEOUT = 2.0
MAX_LOOKUPS = 10  # RFC 7208 §4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4
_CACHE_TTL = 300.0
_FAILURE_TTL = 10.0  # a failed look-up is retried soon: the sender will retry after 451
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
_RESERVED = frozenset({"example.com", "example.net", "example.org"})
_DKIM_TAGS = re.compile(rb"^DKIM-Signature:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ARC_TAGS = re.compile(
    rb"^ARC-(?:Seal|Message-Signature):(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)
_AR_FIELD = re.compile(rb"^Authentication-Results[ \t]*:", re.IGNORECASE)
_AR_ANYWHERE = re.compile(rb"^Authentication-Results[ \t]*:", re.IGNORECASE | re.MULTILINE)
_CACHE_SIZE = 4096


class DnsError(Exception):
    """A temporary DNS failure (SERVFAIL, timeout): the result is temperror."""


_DnsError = DnsError  # the name the checks below use
Query = Callable[[str, str], Awaitable[list[str]]]


class _PermError(Exception):
    pass


def is_reserved_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    return labels[-1] in _RESERVED_TLDS or ".".join(labels[-2:]) in _RESERVED


class DnsLookup:
    """Record texts by name and type through dnspython, cached briefly.

    `nameservers` are "IP" or "IP:PORT" (tests run a resolver on loopback);
    empty: the system's resolv.conf. NXDOMAIN and no data give []; SERVFAIL and
    timeouts raise DnsError. Reserved names give [] without a look-up.
    """

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = DNS_TIMEOUT) -> None:
        resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            resolver.nameservers = [_nameserver(n) for n in nameservers]
        resolver.lifetime = resolver.timeout = timeout
        self._resolver = resolver
        self._cache: dict[str, tuple[float, list[str] | None]] = {}

    async def __call__(self, name: str, rdtype: str) -> list[str]:
        if is_reserved_domain(name) or not _is_dns_name(name):
            return []
        key = f"{rdtype} {name.lower()}"
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            if cached[1] is None:
                raise DnsError(name)
            return cached[1]
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
            values: list[str] | None = [_rdata_text(r) for r in answer]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            values = []
        except dns.exception.DNSException:  # SERVFAIL (NoNameservers), timeouts
            values = None
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        ttl = _CACHE_TTL if values is not None else _FAILURE_TTL
        self._cache[key] = (time.monotonic() + ttl, values)
        if values is None:
            raise DnsError(name)
        return values


def _is_dns_name(name: str) -> bool:
    """A name DNS can hold; an address literal or a malformed name has no records
    (and must not look like a DNS failure, which would defer the mail)."""
    if not name or "[" in name or ":" in name:
        return False
    try:
        dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return False
    return True


def _nameserver(text: str) -> str | dns.nameserver.Nameserver:
    """ "IP", "IPv4:PORT" or "[IPv6]:PORT"."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            host, port = text, ""  # a bare address, IPv6 included
    return dns.nameserver.Do53Nameserver(host, int(port)) if port.isdigit() else host


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", "replace")
    exchange = getattr(rdata, "exchange", None)
    return str(exchange if exchange is not None else rdata).rstrip(".")


# -- SPF (RFC 7208) -----------------------------------------------------------------
@dataclass(slots=True)
class _Budget:
    """RFC 7208 §4.6.4: at most 10 terms that query DNS, at most 2 that find nothing."""

    query: Query
    lookups: int = 0
    voids: int = 0

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _PermError("too many DNS lookups")

    async def fetch(self, name: str, rdtype: str) -> list[str]:
        values = await self.query(name, rdtype)
        if not values:
            self.voids += 1
            if self.voids > MAX_VOID_LOOKUPS:
                raise _PermError("too many void DNS lookups")
        return values


async def check_spf(ip: str, sender: str, helo: str, query: Query) -> tuple[str, str]:
    """(result, the identity checked): pass, fail, softfail, neutral, none, temperror, permerror."""
    identity = sender or f"postmaster@{helo}"
    domain = identity.rpartition("@")[2]
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "none", identity
    try:
        result = await _check_host(address, domain, identity, _Budget(query))
    except _DnsError:
        result = "temperror"
    except _PermError:
        result = "permerror"
    return result, identity


async def _check_host(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, sender: str, budget: _Budget
) -> str:
    records = [t for t in await budget.query(domain, "TXT") if _is_spf(t)]
    if not records:
        return "none"
    if len(records) > 1:
        raise _PermError(domain)
    terms = records[0].split()[1:]
    redirect = None
    for term in terms:
        if term.lower().startswith("redirect="):
            redirect = term.split("=", 1)[1]
            continue
        if "=" in term.split(":")[0]:
            continue  # other modifiers (exp=) are ignored
        qualifier, mechanism = (term[0], term[1:]) if term[0] in "+-~?" else ("+", term)
        if await _matches(ip, mechanism, domain, sender, budget):
            return {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[qualifier]
    if redirect:
        budget.count()
        target = _expand(redirect, sender, domain, ip)
        result = await _check_host(ip, target, sender, budget)
        return "permerror" if result == "none" else result
    return "neutral"


def _is_spf(text: str) -> bool:
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _expand(spec: str, sender: str, domain: str, ip: object) -> str:
    """Macros (RFC 7208 §7), the common letters only; transformers are ignored."""
    local = sender.rpartition("@")[0] or "postmaster"
    values = {"s": sender, "l": local, "o": sender.rpartition("@")[2], "d": domain, "i": str(ip)}
    return (
        re.sub(r"%\{([slodi])[0-9]*r?[.\-+,/_=]*\}", lambda m: values[m.group(1)], spec)
        .replace("%%", "%")
        .replace("%_", " ")
        .replace("%-", "%20")
    )


async def _matches(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    mechanism: str,
    domain: str,
    sender: str,
    budget: _Budget,
) -> bool:
    name, _, arg = mechanism.partition(":")
    name = name.lower()
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise _PermError(mechanism) from None
    if name == "include":
        budget.count()
        result = await _check_host(ip, _expand(arg, sender, domain, ip), sender, budget)
        if result in ("temperror", "permerror", "none"):
            raise _PermError(mechanism) if result != "temperror" else _DnsError(mechanism)
        return result == "pass"
    base, _, cidr = (arg or domain).partition("/")
    target = _expand(base or domain, sender, domain, ip)
    if name.split("/")[0] in ("a", "mx"):
        budget.count()
        kind, _, own_cidr = name.partition("/")
        return await _a_or_mx(ip, kind, target, cidr or own_cidr, budget)
    if name == "exists":
        budget.count()
        return bool(await budget.fetch(target, "A"))
    if name == "ptr":
        budget.count()
        return False  # RFC 7208 §5.5: "ptr" SHOULD NOT be used; never matching is allowed
    raise _PermError(mechanism)


async def _a_or_mx(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    kind: str,
    target: str,
    cidr: str,
    budget: _Budget,
) -> bool:
    rdtype = "A" if ip.version == 4 else "AAAA"
    if kind == "a":
        hosts = [target]
    else:
        hosts = await budget.fetch(target, "MX")
        if len(hosts) > MAX_LOOKUPS:
            raise _PermError("more than 10 MX names")  # RFC 7208 §4.6.4
    prefix = int(cidr) if cidr.isascii() and cidr.isdigit() else (32 if ip.version == 4 else 128)
    for host in hosts:
        # Only the mechanism's own name counts as a void look-up, not each MX host.
        values = budget.fetch if kind == "a" else budget.query
        for value in await values(host, rdtype):
            try:
                if ip in ipaddress.ip_network(f"{value}/{prefix}", strict=False):
                    return True
            except ValueError:
                continue
    return False


# -- DKIM (RFC 6376) ------------------------------------------------------------------
async def check_dkim(raw: bytes, query: Query) -> list[tuple[str, str, str]]:
    """(result, d=, s=) per DKIM-Signature in the header section."""
    header = _header_section(raw)
    signatures = [_tags(m.group(1)) for m in _DKIM_TAGS.finditer(header)]
    results = []
    for index, tags in enumerate(signatures):
        domain, selector = tags.get("d", ""), tags.get("s", "")
        result = await _verify_one(raw, index, domain, selector, query)
        results.append((result, domain, selector))
    return results


def _header_section(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 2]


def _tags(value: bytes) -> dict[str, str]:
    text = re.sub(r"\s+", "", value.decode("ascii", "replace"))
    return {k: v for k, _, v in (t.partition("=") for t in text.split(";")) if k}


async def _verify_one(raw: bytes, index: int, domain: str, selector: str, query: Query) -> str:
    if not domain or not selector:
        return "permerror"
    name = f"{selector}._domainkey.{domain}"
    try:
        records = await query(name, "TXT")
    except _DnsError:
        return "temperror"
    if not records:
        return "permerror"
    record = records[0].encode("utf-8")

    def dnsfunc(_name: bytes, timeout: float = 5) -> bytes:
        return record

    try:
        ok = dkim.DKIM(raw).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.ValidationError:
        return "fail"  # body hash mismatch, expired: RFC 6376 §6.1 PERMFAIL, reported as fail
    except dkim.DKIMException:
        return "permerror"
    except Exception:
        log.debug("DKIM verification crashed", exc_info=True)
        return "permerror"
    return "pass" if ok else "fail"


# -- ARC (RFC 8617) -------------------------------------------------------------------
async def check_arc(raw: bytes, query: Query) -> str:
    """The chain validation status: none, pass, fail (temperror when a key could not be read).

    dkimpy fetches keys synchronously, so every key the ARC sets name is read
    first, asynchronously, and handed over from memory.
    """
    header = _header_section(raw)
    names = set()
    for match in _ARC_TAGS.finditer(header):
        tags = _tags(match.group(1))
        if tags.get("d") and tags.get("s"):
            names.add(f"{tags['s']}._domainkey.{tags['d']}".lower())
    if not names:
        return "none"
    keys: dict[str, bytes] = {}
    try:
        for name in names:
            records = await query(name, "TXT")
            if records:
                keys[name] = records[0].encode("utf-8")
    except _DnsError:
        return "temperror"

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        return keys.get(name.decode("ascii", "replace").rstrip(".").lower(), b"")

    try:
        status, _results, _reason = dkim.arc_verify(raw, dnsfunc=dnsfunc)
    except Exception:
        log.debug("ARC verification crashed", exc_info=True)
        return "fail"
    text = status.decode("ascii", "replace") if isinstance(status, bytes) else str(status)
    return text.lower() if text.lower() in ("pass", "fail", "none") else "fail"


# -- the header (RFC 8601) ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuthResults:
    """Every result of one message, as the header and the spam scorer want them."""

    spf: str
    spf_identity: str
    dkim: tuple[tuple[str, str, str], ...]  # (result, d=, s=) per signature
    dmarc: tuple[tuple[str, str, str], ...]  # (result, From domain, policy) per domain
    arc: str

    def summary(self) -> dict[str, str]:
        """One word per method: the mapping `ScanFacts.auth_results` carries."""
        return {
            "spf": self.spf,
            "dkim": _summary([r for r, _, _ in self.dkim]),
            "dmarc": _worst([r for r, _, _ in self.dmarc]),
            "arc": self.arc,
        }


def _summary(results: list[str]) -> str:
    """dkim=pass if any signature passed; otherwise the first other result."""
    if "pass" in results:
        return "pass"
    return next((r for r in results if r != "none"), "none")


def _worst(results: list[str]) -> str:
    """dmarc=fail if any From domain failed."""
    return "fail" if "fail" in results else _summary(results)


@functools.lru_cache(maxsize=1024)
def header_line(hostname: str, results: AuthResults) -> bytes:
    """The whole Authentication-Results header line, CRLF-terminated; kept, as
    the same few combinations of results come again and again."""
    spf = authres.SPFAuthenticationResult(result=results.spf, smtp_mailfrom=results.spf_identity)
    items: list[object] = [spf]
    if not results.dkim:
        items.append(authres.DKIMAuthenticationResult(result="none"))
    for result, domain, selector in results.dkim:
        items.append(
            authres.DKIMAuthenticationResult(result=result, header_d=domain, header_s=selector)
        )
    for result, domain, policy in results.dmarc or (("none", "", ""),):
        items.append(
            authres.dmarc.DMARCAuthenticationResult(
                result=result, header_from=domain or None, policy=policy or None
            )
        )
    items.append(authres.arc.ARCAuthenticationResult(result=results.arc))
    header = authres.AuthenticationResultsHeader(authserv_id=hostname, results=items)
    return (str(header).replace("\n", "\r\n") + "\r\n").encode("utf-8", "replace")


def remove_own_results(raw: bytes, authserv_id: str) -> bytes:
    """RFC 8601 §5: Authentication-Results fields claiming our authserv-id are dropped,
    so a forged "mail.example.org; dkim=pass" never sits beside ours."""
    end = raw.find(b"\r\n\r\n")
    if end < 0 or not _AR_ANYWHERE.search(raw, 0, end):
        return raw
    header, body = raw[: end + 2], raw[end + 2 :]
    fields = re.split(rb"\r\n(?![ \t])", header[:-2])
    kept = [f for f in fields if not _claims(f, authserv_id)]
    if len(kept) == len(fields):
        return raw
    return b"\r\n".join(kept) + b"\r\n" + body


def _claims(field: bytes, authserv_id: str) -> bool:
    if not _AR_FIELD.match(field):
        return False
    value = field.split(b":", 1)[1].decode("utf-8", "replace")
    value = re.sub(r"\([^()]*\)", " ", value)  # CFWS comments around the id
    claimed = value.strip().split(";", 1)[0].split()
    return bool(claimed) and claimed[0].lower().rstrip(".") == authserv_id.lower().rstrip(".")
