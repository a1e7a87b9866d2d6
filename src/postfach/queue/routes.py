"""Where outbound mail for a domain goes: transport map, relay host, or MX (RFC 5321 §5).

Order: the per-domain `[transport]` map of the config (an exact domain, or a
parent domain written with a leading dot), then `queue.relay_host`, then the
domain's MX records, falling back to its A/AAAA records (the implicit MX of
RFC 5321 §5.1). A null MX (RFC 7505) or a domain that does not exist is a
permanent failure; DNS trouble is temporary.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

from postfach.config import Config, parse_host_port

__all__ = ["Destination", "RouteError", "find_route"]

DNS_LIFETIME = 10.0
SMTP_PORT = 25


@dataclass(frozen=True, slots=True)
class Destination:
    """The hosts to try in order; `key` groups messages that may share a connection."""

    key: str
    hosts: tuple[tuple[str, int], ...]


class RouteError(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def _static(target: str, source: str) -> Destination:
    host, port = parse_host_port(target, source, "config")
    return Destination(f"{host}:{port}", ((host, port),))


async def find_route(config: Config, domain: str) -> Destination:
    domain = domain.lower().rstrip(".")
    target = _transport_for(config.transport, domain)
    if target:
        return _static(target, f"transport.{domain}")
    if config.queue.relay_host:
        return _static(config.queue.relay_host, "queue.relay_host")
    return await _mx_route(domain)


def _transport_for(transport: dict[str, str], domain: str) -> str:
    if domain in transport:
        return transport[domain]
    labels = domain.split(".")
    for i in range(1, len(labels)):
        parent = "." + ".".join(labels[i:])
        if parent in transport:
            return transport[parent]
    return ""


async def _mx_route(domain: str) -> Destination:
    resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = DNS_LIFETIME
    try:
        answer = await resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        raise RouteError(f"Host or domain name not found: {domain}", permanent=True) from None
    except dns.resolver.NoAnswer:
        return await _implicit_mx(resolver, domain)
    except dns.exception.DNSException as exc:
        raise RouteError(f"DNS lookup of {domain} failed: {exc}", permanent=False) from None
    records = sorted(answer, key=lambda r: r.preference)
    hosts = [str(r.exchange).rstrip(".") for r in records]
    if hosts == [""] or hosts == ["."]:
        raise RouteError(f"Domain {domain} does not accept mail (null MX)", permanent=True)
    return Destination(f"mx:{domain}", tuple((h, SMTP_PORT) for h in hosts if h))


async def _implicit_mx(resolver: dns.asyncresolver.Resolver, domain: str) -> Destination:
    for rdtype in ("A", "AAAA"):
        try:
            await resolver.resolve(domain, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as exc:
            raise RouteError(f"DNS lookup of {domain} failed: {exc}", permanent=False) from None
        return Destination(f"mx:{domain}", ((domain, SMTP_PORT),))
    raise RouteError(f"Host or domain name not found: {domain}", permanent=True)
