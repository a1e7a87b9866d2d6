"""A DNS server on loopback publishing what a test puts in its zone (dnslib).

`Zone` maps (name, type) to record texts; names in `failing` answer SERVFAIL.
`serve_zone()` runs it on 127.0.0.1 (UDP, a free port) and yields it;
`zone.address` is the "127.0.0.1:PORT" for `[dns] nameservers`. Records are
published with TTL 0, so nothing a test changes is kept stale by a cache in
dnspython (postfach's own cache is per server).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

dnslib = pytest.importorskip("dnslib", reason="dnslib (test extra) is not installed")
from dnslib import QTYPE, RCODE, RR, DNSRecord  # noqa: E402
from dnslib.server import BaseResolver, DNSLogger, DNSServer  # noqa: E402

__all__ = ["Zone", "serve_zone", "txt_strings"]


def txt_strings(text: str) -> list[str]:
    """A TXT value as character-strings of at most 255 octets (RFC 1035 §3.3.14)."""
    return [text[i : i + 255] for i in range(0, len(text), 255)] or [""]


@dataclass
class Zone(BaseResolver):  # type: ignore[misc]
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    address: str = ""

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((name.lower().rstrip("."), rdtype), []).extend(values)

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        rdtype = QTYPE[request.q.qtype]
        self.queries.append((name, rdtype))
        if name in self.failing:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        values = self.records.get((name, rdtype))
        if values is None:
            if not any(key[0] == name for key in self.records):
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in values:
            if rdtype == "TXT":
                zone_line = f"{name}. 0 IN TXT " + " ".join(f'"{s}"' for s in txt_strings(value))
            else:
                zone_line = f"{name}. 0 IN {rdtype} {value}"
            reply.add_answer(*RR.fromZone(zone_line))
        return reply


@contextlib.contextmanager
def serve_zone(zone: Zone | None = None) -> Iterator[Zone]:
    zone = zone or Zone()
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger("-request,-reply"))
    host, port = server.server.server_address
    zone.address = f"{host}:{port}"
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield zone
    finally:
        server.server.shutdown()
        server.server.server_close()
