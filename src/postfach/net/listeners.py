"""Stream listeners shared by the line protocols: implicit TLS, limits, timeouts, shutdown.

A listener sees a `ListenerEnv`, not the process's ServerContext: its spec, the TLS
context, the two connection limits, the shared per-address counts and, in a worker,
the supervisor's hand-over. `serve_streams` wraps `asyncio.start_server`. Each
connection must pass its listener's `Admission` (per client address, per listener,
and what the process's file descriptors allow; the HTTP listener uses the same), or
it is refused with the protocol's own words. A `LoginDeadline` ends a connection
that has not logged in soon: a silent client must not keep its slot for the
post-login idle time. On `stop()` the socket and every open connection close so that
`postfach serve` ends promptly.

On a listener in `proxy.protocol_listeners` every connection first passes
net.proxied: its PROXY header, from a trusted proxy, names the client, and that
address is what admission, the log and the protocol's session see. Each
connection gets a session id (net.logcontext) before anything is logged of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Protocol

from postfach.config import ListenerSpec
from postfach.net.handover import HandedConnections, TakeSocket
from postfach.net.lines import LoginDeadline, peer_ip
from postfach.net.logcontext import SESSION_ID, new_session_id
from postfach.net.proxied import ProxyAcceptor, read_client
from postfach.net.proxyproto import TrustedProxies

__all__ = [
    "Admission",
    "ConnectionCounts",
    "CountsUnavailable",
    "HandedConnections",
    "Listener",
    "ListenerEnv",
    "Refusal",
    "RunningListener",
    "StreamHandler",
    "WireReplies",
    "fd_budget",
    "serve_streams",
]

log = logging.getLogger("postfach.net")  # the name its lines had before the split

FD_RESERVE = 64  # descriptors kept for the store, runtime file, logs, workers' channels
_CAP_WARNING_INTERVAL = 60.0


class CountsUnavailable(Exception):
    """The shared connection counts cannot be read or written now (a full disk)."""


class ConnectionCounts(Protocol):
    """Open connections per listener and client address, shared by the workers of
    `serve --workers N` (the runtime file). Failures raise CountsUnavailable."""

    def connection_opened(self, listener: str, ip: str, limit: int) -> bool: ...

    def connection_closed(self, listener: str, ip: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ListenerEnv:
    """What a listener needs of its process: no store, no context."""

    spec: ListenerSpec
    ssl_context: SSLContext
    max_connections: int  # limits.max_connections (0: fd_budget())
    max_connections_per_ip: int  # limits.max_connections_per_ip
    shared_counts: ConnectionCounts | None = None  # None: counted in this process
    handed: HandedConnections | None = None  # a worker: the supervisor accepts
    proxy_protocol: bool = False  # every connection starts with a PROXY header
    trusted_proxies: TrustedProxies = field(default_factory=lambda: TrustedProxies(()))
    proxy_header_timeout: float = 5.0
    # Called with the listener's name at each connection let in (metrics).
    on_connection: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class WireReplies:
    """What a protocol says when a connection meets a limit, ready to send."""

    too_many_from_ip: bytes  # limits.max_connections_per_ip
    too_busy: bytes  # the listener or the process is full (limits.max_connections)
    timeout: bytes  # no login within the pre-authentication timeout


# The handler's last argument is the client's address: the peer's, or the one a
# trusted proxy's PROXY header named.
StreamHandler = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, LoginDeadline, str], Awaitable[None]
]


class RunningListener(Protocol):
    """What App needs of any listener: the stream ones below, and the HTTP one."""

    spec: ListenerSpec

    @property
    def port(self) -> int: ...

    @property
    def serving(self) -> bool: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class Listener:
    """A running listener; `port` is the bound port (useful when configured as 0).
    In a worker of `serve --workers N` there is no server: the supervisor accepts
    and hands the connections over (HandedConnections)."""

    spec: ListenerSpec
    server: asyncio.Server | None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    handed: HandedConnections | None = None
    acceptor: ProxyAcceptor | None = None  # a PROXY listener in one process
    stopped: bool = False

    @property
    def port(self) -> int:
        if self.acceptor is not None:
            return self.acceptor.port
        sockets = (self.server.sockets or ()) if self.server is not None else ()
        for sock in sockets:
            return int(sock.getsockname()[1])
        return self.spec.port

    @property
    def serving(self) -> bool:
        """Takes connections (until stop(), or the asyncio server closed)."""
        return not self.stopped and (self.server is None or self.server.is_serving())

    async def stop(self) -> None:
        self.stopped = True
        if self.handed is not None:
            self.handed.unregister(self.spec.name)
        if self.server is not None:
            self.server.close()
        if self.acceptor is not None:
            await self.acceptor.stop()
        for writer in list(self.writers):
            writer.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), timeout=5)


async def serve_streams(
    env: ListenerEnv,
    handler: StreamHandler,
    replies: WireReplies,
    preauth_timeout: float,
    limit: int = 64 * 1024,
) -> Listener:
    """Starts `handler` for each connection the listener's `Admission` lets in."""
    spec = env.spec
    admission = Admission(env)
    listener: Listener

    async def on_connect(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str | None = None,
        admitted: bool | None = None,
    ) -> None:
        if not SESSION_ID.get():
            SESSION_ID.set(new_session_id())
        ip = client or peer_ip(writer)
        task = asyncio.current_task()
        refusal = admission.admit(ip, admitted)
        if refusal is not None:
            with contextlib.suppress(Exception):
                busy = refusal is Refusal.BUSY
                writer.write(replies.too_busy if busy else replies.too_many_from_ip)
                await writer.drain()
                writer.close()
            return
        if env.on_connection is not None:
            env.on_connection(spec.name)
        listener.writers.add(writer)
        if task is not None:
            listener.tasks.add(task)
        deadline = LoginDeadline(writer, preauth_timeout, replies.timeout, spec.name)
        try:
            await handler(reader, writer, deadline, ip)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open sessions; the task ends here, quietly.
            pass
        except Exception:
            log.exception("%s: session from %s failed", spec.name, ip)
        finally:
            deadline.passed()
            admission.release(ip, admitted)
            listener.writers.discard(writer)
            if task is not None:
                listener.tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    ssl = env.ssl_context if spec.implicit_tls else None
    handed = env.handed
    if handed is not None:
        listener = Listener(spec, None, handed=handed)
        handed.register(spec.name, _take_sockets(env, on_connect, ssl, limit, listener))
        return listener
    if env.proxy_protocol:
        listener = Listener(spec, None)
        take = _take_sockets(env, on_connect, ssl, limit, listener)
        listener.acceptor = ProxyAcceptor(spec, take)
        return listener
    server = await asyncio.start_server(
        on_connect, spec.host, spec.port, ssl=ssl, limit=limit, reuse_address=True
    )
    listener = Listener(spec, server)
    return listener


def _nothing() -> None:
    pass


OnConnect = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, str | None, bool | None], Awaitable[None]
]


def _take_sockets(
    env: ListenerEnv,
    on_connect: OnConnect,
    ssl: SSLContext | None,
    limit: int,
    listener: Listener,
) -> TakeSocket:
    """What a listener does with a socket accepted elsewhere (by the supervisor, or
    a ProxyAcceptor): read the PROXY header if the listener takes one, then what
    asyncio.start_server would have done; `closed` when the connection ends."""

    async def serve(sock: socket.socket, closed: Callable[[], None], admitted: bool | None) -> None:
        loop = asyncio.get_running_loop()
        SESSION_ID.set(new_session_id())
        client: str | None = None
        if env.proxy_protocol:
            client = await read_client(
                sock, env.spec.name, env.trusted_proxies, env.proxy_header_timeout
            )
            if client is None:
                sock.close()
                closed()
                return

        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await on_connect(reader, writer, client, admitted)
            finally:
                closed()

        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, session, loop=loop)
        try:
            await loop.connect_accepted_socket(lambda: protocol, sock, ssl=ssl)
        except (OSError, asyncio.CancelledError, TimeoutError, ValueError):
            # A failed TLS handshake or a peer that left: no session to serve.
            sock.close()
            closed()

    def take(
        sock: socket.socket, closed: Callable[[], None] = _nothing, admitted: bool | None = None
    ) -> None:
        task = asyncio.get_running_loop().create_task(serve(sock, closed, admitted))
        listener.tasks.add(task)
        task.add_done_callback(listener.tasks.discard)

    return take


class _ConnectionCounter:
    """Open connections per client address on one listener: in this process's
    memory, or in the runtime file all workers of `serve --workers N` share.

    A runtime file that cannot be written (a full disk) must not refuse or drop
    connections: the count moves to memory until the file works again (logged
    once each way), and decrements it missed are applied then."""

    def __init__(self, env: ListenerEnv) -> None:
        self._runtime = env.shared_counts
        self._listener = env.spec.name
        self._limit = env.max_connections_per_ip
        self._open: Counter[str] = Counter()  # counted in memory
        self._owed: Counter[str] = Counter()  # closes the runtime file missed
        self._degraded = False

    def opened(self, ip: str) -> bool:
        if self._runtime is not None:
            try:
                self._settle(self._runtime)
                allowed = self._runtime.connection_opened(self._listener, ip, self._limit)
            except CountsUnavailable as exc:
                self._failed(exc)
            else:
                self._recovered()
                return allowed
        if self._open[ip] >= self._limit:
            return False
        self._open[ip] += 1
        return True

    def closed(self, ip: str) -> None:
        if self._open[ip] > 0 or self._runtime is None:
            self._open[ip] -= 1
            if self._open[ip] <= 0:
                del self._open[ip]
            return
        try:
            self._runtime.connection_closed(self._listener, ip)
        except CountsUnavailable as exc:
            self._owed[ip] += 1
            self._failed(exc)

    def _settle(self, runtime: ConnectionCounts) -> None:
        while self._owed:
            ip = next(iter(self._owed))
            runtime.connection_closed(self._listener, ip)
            self._owed[ip] -= 1
            if self._owed[ip] <= 0:
                del self._owed[ip]

    def _failed(self, exc: CountsUnavailable) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning(
                "%s: cannot count connections in the runtime file (%s); counting in memory",
                self._listener,
                exc,
            )

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.warning("%s: counting connections in the runtime file again", self._listener)


def fd_budget() -> int:
    """Connections one process may hold open: its descriptor limit (RLIMIT_NOFILE)
    less a reserve, so that a flood meets a polite refusal, not EMFILE in the store."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    return max(soft - max(FD_RESERVE, soft // 10), 16)


class Refusal(enum.Enum):
    BUSY = "the listener or the process is full"
    FROM_IP = "too many connections from the address"


class _ProcessSlots:
    """Connections open in this process on all listeners, against `fd_budget()`."""

    def __init__(self) -> None:
        self.open = 0
        self._limit = 0

    def take(self) -> bool:
        if not self._limit:
            self._limit = fd_budget()
        if self.open >= self._limit:
            return False
        self.open += 1
        return True

    def give(self) -> None:
        self.open -= 1


_PROCESS_SLOTS = _ProcessSlots()


class Admission:
    """Whether one more connection may open on a listener: under the listener's cap
    (`limits.max_connections`, 0: `fd_budget()`), the process's descriptors, and the
    per-address limit. `exempt` addresses skip the last (HTTP's trusted proxies)."""

    def __init__(self, env: ListenerEnv, exempt: Container[str] = frozenset()) -> None:
        self._listener = env.spec.name
        self._per_ip = _ConnectionCounter(env)
        self._cap = env.max_connections or fd_budget()
        self._exempt = exempt
        self._open = 0
        self._warned_at = -_CAP_WARNING_INTERVAL

    def admit(self, ip: str, admitted: bool | None = None) -> Refusal | None:
        """None: counted in; call `release(ip, admitted)` when it closes.
        `admitted` is the supervisor's verdict on the address, when it counted it
        (net/handover.py); None: counted here."""
        if self._open >= self._cap or not _PROCESS_SLOTS.take():
            self._warn_full()
            return Refusal.BUSY
        try:
            if admitted is not None:
                allowed = admitted or ip in self._exempt
            else:
                allowed = ip in self._exempt or self._per_ip.opened(ip)
        except BaseException:
            _PROCESS_SLOTS.give()  # the runtime file failed: the slot is not held
            raise
        if not allowed:
            _PROCESS_SLOTS.give()
            return Refusal.FROM_IP
        self._open += 1
        return None

    def release(self, ip: str, admitted: bool | None = None) -> None:
        self._open -= 1
        _PROCESS_SLOTS.give()
        if admitted is None and ip not in self._exempt:
            self._per_ip.closed(ip)

    def _warn_full(self) -> None:
        """One line a minute at most: a flood must not flood the log too."""
        now = asyncio.get_running_loop().time()
        if now - self._warned_at >= _CAP_WARNING_INTERVAL:
            self._warned_at = now
            log.warning(
                "%s: %d connections open (process: %d); refusing new ones"
                " (limits.max_connections, RLIMIT_NOFILE)",
                self._listener,
                self._open,
                _PROCESS_SLOTS.open,
            )
