"""The PROXY protocol, versions 1 and 2 (HAProxy's proxy-protocol.txt): the header a
load balancer sends before the client's first byte, naming the client's address.

`parse` is pure and incremental: given the octets read so far it returns the
header once they hold a whole one, or how many more octets to read at least, so
the caller reads exactly the header and not one octet of what follows (a TLS
ClientHello may come in the same segment). Anything that cannot be a header
raises `ProxyHeaderError` as soon as it is known.

`TrustedProxies` is the one list of networks whose word on a client's address
is taken: PROXY headers on the mail listeners, X-Forwarded-For and Forwarded
on the web listener (`proxy.trusted`).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "V1_MAX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "TrustedProxies",
    "parse",
    "v1_header",
    "v2_header",
]

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included (spec §2.1)
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/transport, length
_V2_LOCAL, _V2_PROXY = 0x0, 0x1
_INET, _INET6 = 0x1, 0x2
_STREAM = 0x1


class ProxyHeaderError(Exception):
    """Not a PROXY header (or one this receiver must refuse); the message says why."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A whole header. `client` is None when the header names no client (v1
    UNKNOWN, v2 LOCAL, an address family other than TCP over IPv4/IPv6): the
    connection's own address stands then, as the spec asks."""

    version: int
    client: str | None
    client_port: int | None
    length: int  # octets the header took


def parse(data: bytes) -> ProxyHeader | int:
    """The header at the start of `data`, or how many more octets it needs (> 0)."""
    if not data:
        return 1
    if data[:1] == b"P":
        return _parse_v1(data)
    if data[:1] == b"\r":
        return _parse_v2(data)
    raise ProxyHeaderError("no PROXY header")


def _parse_v1(data: bytes) -> ProxyHeader | int:
    known = min(len(data), len(V1_PREFIX))
    if data[:known] != V1_PREFIX[:known]:
        raise ProxyHeaderError("no PROXY header")
    end = data.find(b"\r\n")
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data:
            raise ProxyHeaderError("PROXY v1 line too long or without CRLF")
        return 1  # the line's length is known only at its CRLF: octet by octet
    line = data[:end]
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 line is not ASCII") from None
    parts = text.split(" ")
    length = end + 2
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, None, None, length)  # the rest of the line is ignored (§2.1)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("PROXY v1 line malformed")
    _, family, source, dest, source_port, dest_port = parts
    version = 4 if family == "TCP4" else 6
    for address in (source, dest):
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise ProxyHeaderError(f"PROXY v1 address {address[:45]!r} invalid") from None
        if parsed.version != version:
            raise ProxyHeaderError(f"PROXY v1 address {address} is not {family}")
    for port in (source_port, dest_port):
        if not port.isdigit() or not port.isascii() or (len(port) > 1 and port[0] == "0"):
            raise ProxyHeaderError("PROXY v1 port invalid")
        if int(port) > 65535:
            raise ProxyHeaderError("PROXY v1 port invalid")
    return ProxyHeader(1, source, int(source_port), length)


def _parse_v2(data: bytes) -> ProxyHeader | int:
    known = min(len(data), len(V2_SIGNATURE))
    if data[:known] != V2_SIGNATURE[:known]:
        raise ProxyHeaderError("no PROXY header")
    if len(data) < V2_FIXED:
        return V2_FIXED - len(data)
    version_command, family_transport = data[12], data[13]
    size = int.from_bytes(data[14:V2_FIXED], "big")
    if version_command >> 4 != 2:
        raise ProxyHeaderError("PROXY v2 header of an unknown version")
    command = version_command & 0xF
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError("PROXY v2 header with an unknown command")
    total = V2_FIXED + size
    if len(data) < total:
        return total - len(data)
    if command == _V2_LOCAL:  # the proxy's own connection (a health check)
        return ProxyHeader(2, None, None, total)
    family, transport = family_transport >> 4, family_transport & 0xF
    block = data[V2_FIXED:total]
    if transport == _STREAM and family == _INET:
        if size < 12:
            raise ProxyHeaderError("PROXY v2 TCP4 address block too short")
        source = str(ipaddress.IPv4Address(block[0:4]))
        (port,) = struct.unpack("!H", block[8:10])
        return ProxyHeader(2, source, int(port), total)  # TLVs after the addresses: skipped
    if transport == _STREAM and family == _INET6:
        if size < 36:
            raise ProxyHeaderError("PROXY v2 TCP6 address block too short")
        address = ipaddress.IPv6Address(block[0:16])
        mapped = address.ipv4_mapped
        (port,) = struct.unpack("!H", block[32:34])
        return ProxyHeader(2, str(mapped or address), int(port), total)
    # UNSPEC, UDP or UNIX: the spec lets the receiver use the real endpoints.
    return ProxyHeader(2, None, None, total)


def v1_header(client: str, client_port: int, server: str, server_port: int) -> bytes:
    """What a proxy sends, in version 1 (for tests and the benchmark)."""
    family = "TCP6" if ":" in client else "TCP4"
    return f"PROXY {family} {client} {server} {client_port} {server_port}\r\n".encode("ascii")


def v2_header(
    client: str, client_port: int, server: str, server_port: int, tlvs: bytes = b""
) -> bytes:
    """What a proxy sends, in version 2 (PROXY command, TCP)."""
    source, dest = ipaddress.ip_address(client), ipaddress.ip_address(server)
    family = _INET6 if source.version == 6 else _INET
    block = source.packed + dest.packed + struct.pack("!HH", client_port, server_port) + tlvs
    head = struct.pack("!BBH", 0x20 | _V2_PROXY, family << 4 | _STREAM, len(block))
    return V2_SIGNATURE + head + block


class TrustedProxies:
    """Networks whose PROXY header or forwarding header is believed."""

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        return any(address in network for network in self._networks)

    def __bool__(self) -> bool:
        return bool(self._networks)
