"""Stream listeners shared by the line protocols: implicit TLS, per-IP limits, shutdown.

`serve_streams` wraps `asyncio.start_server`: it counts connections per client
address, refuses the excess with the protocol's own words, and on `stop()` closes
the socket and every open connection so that `postfach serve` ends promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from postfach.config import ListenerSpec
from postfach.context import ServerContext

__all__ = ["Listener", "RunningListener", "StreamHandler", "peer_ip", "serve_streams"]

log = logging.getLogger(__name__)

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


class RunningListener(Protocol):
    """What App needs of any listener: the stream ones below, and the HTTP one."""

    spec: ListenerSpec

    @property
    def port(self) -> int: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class Listener:
    """A running listener; `port` is the bound port (useful when configured as 0)."""

    spec: ListenerSpec
    server: asyncio.Server
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        sockets = self.server.sockets or ()
        for sock in sockets:
            return int(sock.getsockname()[1])
        return self.spec.port

    async def stop(self) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), timeout=5)


async def serve_streams(
    ctx: ServerContext,
    spec: ListenerSpec,
    handler: StreamHandler,
    too_many: bytes,
    limit: int = 64 * 1024,
) -> Listener:
    """Starts `handler` for each connection; `too_many` is sent to an IP over its limit."""
    counter = _ConnectionCounter(ctx, spec.name)
    listener: Listener

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = peer_ip(writer)
        task = asyncio.current_task()
        if not counter.opened(ip):
            with contextlib.suppress(Exception):
                writer.write(too_many)
                await writer.drain()
                writer.close()
            return
        listener.writers.add(writer)
        if task is not None:
            listener.tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open sessions; the task ends here, quietly.
            pass
        except Exception:
            log.exception("%s: session from %s failed", spec.name, ip)
        finally:
            counter.closed(ip)
            listener.writers.discard(writer)
            if task is not None:
                listener.tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    ssl = ctx.ssl_context if spec.implicit_tls else None
    inherited = ctx.listen_sockets.get(spec.name)
    if inherited is not None:
        server = await asyncio.start_server(on_connect, sock=inherited, ssl=ssl, limit=limit)
    else:
        server = await asyncio.start_server(
            on_connect, spec.host, spec.port, ssl=ssl, limit=limit, reuse_address=True
        )
    listener = Listener(spec, server)
    return listener


class _ConnectionCounter:
    """Open connections per client address on one listener: in this process's
    memory, or in the runtime file all workers of `serve --workers N` share."""

    def __init__(self, ctx: ServerContext, listener: str) -> None:
        self._runtime = ctx.store.runtime
        self._listener = listener
        self._limit = ctx.config.limits.max_connections_per_ip
        self._open: Counter[str] = Counter()

    def opened(self, ip: str) -> bool:
        if self._runtime is not None:
            return self._runtime.connection_opened(self._listener, ip, self._limit)
        if self._open[ip] >= self._limit:
            return False
        self._open[ip] += 1
        return True

    def closed(self, ip: str) -> None:
        if self._runtime is not None:
            self._runtime.connection_closed(self._listener, ip)
            return
        self._open[ip] -= 1
        if self._open[ip] <= 0:
            del self._open[ip]
