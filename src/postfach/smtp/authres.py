"""SPF and DKIM checks of inbound mail, reported in Authentication-Results (RFC 8601).

Mail arriving on the MX without AUTH gets one Authentication-Results header with
the SPF result for the envelope sender (RFC 7208, evaluated here with dnspython)
and one DKIM result per signature (dkimpy, keys fetched asynchronously). Nothing
is refused on these grounds. DNS waits are short (DNS_TIMEOUT); a DNS failure is
`temperror`. Names reserved by RFC 2606/6761 (.test, .example, .invalid,
.localhost, example.com/net/org) are never looked up: their result is `none`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time

import authres
import dkim
import dns.asyncresolver
import dns.exception
import dns.resolver

__all__ = ["authentication_results", "check_dkim", "check_spf", "is_reserved_domain"]

log = logging.getLogger(__name__)

DNS_TIMEOUT = 2.0
MAX_LOOKUPS = 10  # RFC 7208 §4.6.4
_CACHE_TTL = 300.0
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
_RESERVED = frozenset({"example.com", "example.net", "example.org"})
_DKIM_TAGS = re.compile(rb"^DKIM-Signature:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_txt_cache: dict[str, tuple[float, list[str] | None]] = {}
# Header lines by their results: the same few combinations come again and again.
_header_cache: dict[tuple[str, str, str, tuple[tuple[str, str, str], ...]], bytes] = {}
_HEADER_CACHE_SIZE = 1024


class _DnsError(Exception):
    """A temporary DNS failure: the result is temperror."""


class _PermError(Exception):
    pass


def is_reserved_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    return labels[-1] in _RESERVED_TLDS or ".".join(labels[-2:]) in _RESERVED


def _resolver() -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = DNS_TIMEOUT
    resolver.timeout = DNS_TIMEOUT
    return resolver


async def _query(name: str, rdtype: str) -> list[str]:
    """Record texts; [] when there are none. Reserved names give []."""
    if is_reserved_domain(name):
        return []
    key = f"{rdtype} {name.lower()}"
    cached = _txt_cache.get(key)
    if cached and cached[0] > time.monotonic():
        if cached[1] is None:
            raise _DnsError(name)
        return cached[1]
    try:
        answer = await _resolver().resolve(name, rdtype)
        values: list[str] | None = [_rdata_text(r) for r in answer]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
        values = []
    except dns.exception.DNSException:
        values = None
    _txt_cache[key] = (time.monotonic() + _CACHE_TTL, values)
    if values is None:
        raise _DnsError(name)
    return values


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", "replace")
    exchange = getattr(rdata, "exchange", None)
    return str(exchange if exchange is not None else rdata).rstrip(".")


# -- SPF (RFC 7208) -----------------------------------------------------------------
async def check_spf(ip: str, sender: str, helo: str) -> tuple[str, str]:
    """(result, the identity checked): pass, fail, softfail, neutral, none, temperror, permerror."""
    identity = sender or f"postmaster@{helo}"
    domain = identity.rpartition("@")[2]
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "none", identity
    try:
        result = await _check_host(address, domain, identity, [0])
    except _DnsError:
        result = "temperror"
    except _PermError:
        result = "permerror"
    return result, identity


async def _check_host(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, sender: str, lookups: list[int]
) -> str:
    records = [t for t in await _query(domain, "TXT") if t.lower().startswith("v=spf1")]
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
        if await _matches(ip, mechanism, domain, sender, lookups):
            return {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[qualifier]
    if redirect:
        _count(lookups)
        result = await _check_host(ip, _expand(redirect, sender, domain, ip), sender, lookups)
        return "permerror" if result == "none" else result
    return "neutral"


def _count(lookups: list[int]) -> None:
    lookups[0] += 1
    if lookups[0] > MAX_LOOKUPS:
        raise _PermError("too many DNS lookups")


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
    lookups: list[int],
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
        _count(lookups)
        result = await _check_host(ip, _expand(arg, sender, domain, ip), sender, lookups)
        if result in ("temperror", "permerror", "none"):
            raise _PermError(mechanism) if result != "temperror" else _DnsError(mechanism)
        return result == "pass"
    base, _, cidr = (arg or domain).partition("/")
    target = _expand(base or domain, sender, domain, ip)
    if name.split("/")[0] in ("a", "mx"):
        _count(lookups)
        return await _a_or_mx(ip, name.split("/")[0], target, cidr or name.partition("/")[2])
    if name == "exists":
        _count(lookups)
        return bool(await _query(target, "A"))
    if name == "ptr":
        _count(lookups)
        return False  # RFC 7208 §5.5: "ptr" SHOULD NOT be used; never matching is allowed
    raise _PermError(mechanism)


async def _a_or_mx(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, kind: str, target: str, cidr: str
) -> bool:
    hosts = [target] if kind == "a" else (await _query(target, "MX"))[:10]
    rdtype = "A" if ip.version == 4 else "AAAA"
    prefix = int(cidr) if cidr.isascii() and cidr.isdigit() else (32 if ip.version == 4 else 128)
    for host in hosts:
        for value in await _query(host, rdtype):
            try:
                if ip in ipaddress.ip_network(f"{value}/{prefix}", strict=False):
                    return True
            except ValueError:
                continue
    return False


# -- DKIM (RFC 6376) ------------------------------------------------------------------
async def check_dkim(raw: bytes) -> list[tuple[str, str, str]]:
    """(result, d=, s=) per DKIM-Signature in the header section."""
    end = raw.find(b"\r\n\r\n")
    header = raw if end < 0 else raw[: end + 2]
    signatures = [_tags(m.group(1)) for m in _DKIM_TAGS.finditer(header)]
    results = []
    for index, tags in enumerate(signatures):
        domain, selector = tags.get("d", ""), tags.get("s", "")
        results.append((await _verify_one(raw, index, domain, selector), domain, selector))
    return results


def _tags(value: bytes) -> dict[str, str]:
    text = re.sub(r"\s+", "", value.decode("ascii", "replace"))
    return {k: v for k, _, v in (t.partition("=") for t in text.split(";")) if k}


async def _verify_one(raw: bytes, index: int, domain: str, selector: str) -> str:
    if not domain or not selector:
        return "permerror"
    name = f"{selector}._domainkey.{domain}"
    try:
        records = await _query(name, "TXT")
    except _DnsError:
        return "temperror"
    if not records:
        return "permerror"
    record = records[0].encode("utf-8")

    def dnsfunc(_name: bytes, timeout: float = 5) -> bytes:
        return record

    try:
        ok = dkim.DKIM(raw).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return "permerror"
    except Exception:
        log.debug("DKIM verification crashed", exc_info=True)
        return "permerror"
    return "pass" if ok else "fail"


async def authentication_results(
    hostname: str, ip: str, helo: str, sender: str, raw: bytes
) -> bytes:
    """The whole Authentication-Results header line, CRLF-terminated."""
    spf, identity = await check_spf(ip, sender, helo)
    dkim_results = await check_dkim(raw)
    key = (hostname, spf, identity, tuple(dkim_results))
    cached = _header_cache.get(key)
    if cached is None:
        if len(_header_cache) >= _HEADER_CACHE_SIZE:
            _header_cache.clear()
        cached = _header_cache[key] = _header(hostname, spf, identity, dkim_results)
    return cached


def _header(
    hostname: str, spf: str, identity: str, dkim_results: list[tuple[str, str, str]]
) -> bytes:
    results: list[object] = [authres.SPFAuthenticationResult(result=spf, smtp_mailfrom=identity)]
    if not dkim_results:
        results.append(authres.DKIMAuthenticationResult(result="none"))
    for result, domain, selector in dkim_results:
        results.append(
            authres.DKIMAuthenticationResult(result=result, header_d=domain, header_s=selector)
        )
    header = authres.AuthenticationResultsHeader(authserv_id=hostname, results=results)
    return (str(header).replace("\n", "\r\n") + "\r\n").encode("utf-8", "replace")
