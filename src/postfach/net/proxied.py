"""Listeners behind a load balancer: the PROXY header read off the socket itself.

The header is read with exact `recv` calls on the accepted socket, before any
stream exists: a stream's reader would take the client's first octets (a TLS
ClientHello, sent in the same segment) into its buffer, where the TLS layer
started after the header would never see them. Then the socket becomes a
stream connection as any other, with implicit TLS if the listener has it.

In one process (`--workers 1`) such a listener accepts here (`ProxyAcceptor`);
in a worker the supervisor accepts and hands the socket over, and the same
`read_client` runs first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from postfach.config import ListenerSpec
from postfach.net import proxyproto
from postfach.net.proxyproto import TrustedProxies

__all__ = ["ProxyAcceptor", "read_client"]

log = logging.getLogger("postfach.net")
BACKLOG = 1024


async def read_client(
    sock: socket.socket, name: str, trusted: TrustedProxies, timeout: float
) -> str | None:
    """The client's address from the PROXY header at the start of `sock`; None:
    refused (a peer outside `trusted`, no valid header in time), logged."""
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        return None
    if peer not in trusted:
        log.warning("%s: %s is not a trusted proxy (proxy.trusted); closed", name, peer)
        return None
    loop = asyncio.get_running_loop()
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while not isinstance(result := proxyproto.parse(data), proxyproto.ProxyHeader):
                chunk = await loop.sock_recv(sock, result)
                if not chunk:
                    log.info("%s: %s left before its PROXY header ended", name, peer)
                    return None
                data += chunk
    except proxyproto.ProxyHeaderError as exc:
        log.warning("%s: bad PROXY header from %s (%s); closed", name, peer, exc)
    except TimeoutError:
        log.warning("%s: no PROXY header from %s in time; closed", name, peer)
    except OSError as exc:
        log.info("%s: %s left before its PROXY header ended (%s)", name, peer, exc)
    else:
        client = result.client or peer
        log.debug("%s: PROXY v%d from %s: client %s", name, result.version, peer, client)
        return client
    return None


class ProxyAcceptor:
    """Accepts on one listening socket and passes each connection on."""

    def __init__(self, spec: ListenerSpec, take: Callable[[socket.socket], None]) -> None:
        family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
        self.sock = socket.create_server(
            (spec.host, spec.port), family=family, backlog=BACKLOG, reuse_port=False
        )
        self.sock.setblocking(False)
        self._take = take
        self._task = asyncio.get_running_loop().create_task(self._accept(), name=spec.name)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _address = await loop.sock_accept(self.sock)
            except OSError as exc:  # EMFILE and the like: a pause, not the end
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            self._take(conn)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sock.close()
