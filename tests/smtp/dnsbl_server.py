"""A loopback DNS server publishing DNSBL zones, for the MX checks' tests (dnslib).

Zones: `listed.test` lists every address (127.0.0.2, RFC 5782's "listed"),
`clean.test` none (NXDOMAIN), `refused.test` answers 127.255.255.254 (Spamhaus:
"your resolver may not ask", which is no listing) and `silent.test` answers
too late for any timeout the tests set.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

ANSWERS = {"listed.test.": "127.0.0.2", "refused.test.": "127.255.255.254"}
SILENCE = 3.0  # seconds silent.test takes


class _Zones(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower()
        self.asked.append(name)
        if name.endswith(".silent.test."):
            time.sleep(SILENCE)
        zone = next((z for z in ANSWERS if name.endswith("." + z)), None)
        if zone is not None and request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ANSWERS[zone]), ttl=60))
        elif zone is None:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dnsbl_server() -> Iterator[tuple[str, list[str]]]:
    """("127.0.0.1:PORT", the names asked so far) while the server runs."""
    zones = _Zones()
    port = _free_udp_port()
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", False)
    server = DNSServer(zones, port=port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}", zones.asked
    finally:
        server.stop()
