"""One postfach process: the store, the shared services and every configured listener.

With `serve --workers N` each worker process runs an App with a `WorkerRole`:
listening sockets the supervisor bound (postfach/workers.py), the runtime file
the workers share, and the relay that carries changes between them. Every
worker serves the mail protocols; worker 0 alone serves HTTP and runs the
outbound queue (so `queue.connections_per_destination` holds for the server;
the others wake it through the relay), the mailing engine and the retention
loop.

Each listener's package, and the services only the primary runs, are imported
when they start: a worker that serves no HTTP does not load the web stack
(Starlette, Jinja2, uvicorn), and only the primary loads the queue's SMTP
client and DNS, the mailing engine and the importers (bench/memory.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from postfach import metrics
from postfach.auth import Authenticator
from postfach.config import Config, ListenerSpec
from postfach.context import ServerContext
from postfach.delivery import Delivery
from postfach.imap.indexcache import IndexCache
from postfach.imap.recent import tracker_for
from postfach.net.certs import CertStore
from postfach.net.listeners import HandedConnections, RunningListener
from postfach.net.tls import cert_store
from postfach.sieve_delivery import SieveFilter
from postfach.spam.scorers import make_scorer
from postfach.store import Store
from postfach.store.notify import RelayNotifier
from postfach.store.runtime import RuntimeState
from postfach.textindexer import IndexerProcess
from postfach.workers import INHERITED

if TYPE_CHECKING:
    from postfach.acme.renewal import CertRenewal

__all__ = ["LISTENERS", "App", "WorkerRole", "build_context", "listener_starter"]

log = logging.getLogger(__name__)

StartListener = Callable[[ServerContext, ListenerSpec], Awaitable[RunningListener]]

# Which module and function serve which listener (imported when it starts).
LISTENERS: dict[str, tuple[str, str]] = {
    "smtp": ("postfach.smtp.server", "start_listener"),
    "submission": ("postfach.smtp.server", "start_listener"),
    "submissions": ("postfach.smtp.server", "start_listener"),
    "devices": ("postfach.smtp.server", "start_listener"),
    "imap": ("postfach.imap.server", "start_listener"),
    "imaps": ("postfach.imap.server", "start_listener"),
    "pop3": ("postfach.pop3.server", "start_listener"),
    "pop3s": ("postfach.pop3.server", "start_listener"),
    "http": ("postfach.web.server", "start_listener"),
    "https": ("postfach.web.server", "start_listener"),
    "metrics": ("postfach.web.server", "start_metrics_listener"),
    "managesieve": ("postfach.managesieve.server", "start_listener"),
}


def listener_starter(name: str) -> StartListener:
    module, function = LISTENERS[name]
    start: StartListener = getattr(importlib.import_module(module), function)
    return start


class _Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """What makes an App one worker of several (see postfach/workers.py)."""

    index: int
    relay: socket.socket  # to the supervisor: readiness, ended connections, changes on SQLite
    handoff: socket.socket  # from the supervisor: the connections it accepted
    sockets: dict[str, socket.socket]  # listener name -> bound, listening socket (HTTP)
    runtime_path: str  # store/runtime.py
    secret: bytes  # the run's key for what the workers share there (never in the file)

    @property
    def primary(self) -> bool:
        return self.index == 0


async def build_context(
    config: Config,
    store: Store,
    *,
    ssl_context: ssl.SSLContext,
    node_id: str,
    listen_sockets: dict[str, socket.socket] | None = None,
    handed_connections: HandedConnections | None = None,
    certs: CertStore | None = None,
) -> ServerContext:
    """Every shared service of one process, each made once (the store connected,
    its runtime file set for a worker)."""
    ctx = ServerContext(
        config=config,
        store=store,
        auth=Authenticator(store, config.auth),
        delivery=Delivery(store, config.server.hostname, config.server.postmaster),
        ssl_context=ssl_context,
        node_id=node_id,
        recent=tracker_for(store.runtime),
        index_cache=IndexCache(config.limits.imap_index_cache_messages),
        mailing=store.mailing,
        campaigns_sending=set(),
        spam=make_scorer(config, store),
        listen_sockets=listen_sockets or {},
        handed_connections=handed_connections,
        certs=certs,
    )
    ctx.delivery.filter = SieveFilter(ctx)  # each account's Sieve script at delivery
    return ctx


class App:
    """Starts and stops everything `postfach serve` runs."""

    def __init__(self, config: Config, role: WorkerRole | None = None) -> None:
        self.config = config
        self.role = role
        self.listeners: dict[str, RunningListener] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.indexer: IndexerProcess | None = None  # the primary's (textindexer.py)
        self._services: list[_Service] = []
        self._ctx: ServerContext | None = None
        self.relay: RelayNotifier | None = None  # a worker's line to its supervisor
        self.cert_renewal: CertRenewal | None = None  # the primary's, with [acme] on

    @property
    def ctx(self) -> ServerContext:
        assert self._ctx is not None, "App.start() first"
        return self._ctx

    def port(self, name: str) -> int:
        return self.listeners[name].port

    async def start(self) -> None:
        config, role = self.config, self.role
        store = await Store.connect(config.storage.url)
        relay = handed = None
        if role is not None:
            store.runtime = RuntimeState(role.runtime_path, role.index, role.secret)
            relay = self.relay = store.attach_relay(role.relay)
            handed = HandedConnections(role.handoff, relay.connection_closed)
        await store.start_change_feed()
        certs = cert_store(config)
        self._ctx = await build_context(
            config,
            store,
            ssl_context=certs.server_context(),
            certs=certs,
            node_id=f"{socket.gethostname()}:{os.getpid()}:{id(self):x}",
            listen_sockets=dict(role.sockets) if role is not None else {},
            handed_connections=handed,
        )
        primary = role is None or role.primary
        try:
            for spec in config.listeners_enabled():
                if spec.name in INHERITED and not primary:
                    continue
                self.ctx.listeners_expected.add(spec.name)
                await self._start_listener(spec)
            await self._start_services(primary)
        except BaseException:
            await self.stop()
            raise
        if primary:
            self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
            self.indexer = IndexerProcess(
                self.ctx.store.mail, config.storage.url, log_format=config.log.format
            )
            self._tasks.append(asyncio.create_task(self.indexer.run(), name="text indexer"))
        if relay is not None and handed is not None:
            handed.start()
            relay.ready()

    async def _start_listener(self, spec: ListenerSpec) -> None:
        self.listeners[spec.name] = await listener_starter(spec.name)(self.ctx, spec)
        self.ctx.listeners[spec.name] = self.listeners[spec.name]

    async def _start_services(self, primary: bool) -> None:
        """Background workers, one per server: the outbound queue, the mailing engine and
        the imports started from the web, and the certificates' renewal."""
        if not primary:
            return
        from postfach.mailing.service import MailingService
        from postfach.moving.service import ImportService
        from postfach.queue.worker import QueueWorker

        services: list[_Service] = [
            QueueWorker(self.ctx),
            MailingService(self.ctx),
            ImportService(
                self.ctx.store,
                self.config.server.data_dir,
                private_hosts=self.config.imports.web_private_hosts,
            ),
        ]
        if self.config.acme.active:
            # Imported here: the ACME library (and requests) load only when ACME is on.
            from postfach.acme.renewal import CertRenewal

            self.cert_renewal = CertRenewal(self.config, self.ctx.store, self.ctx.node_id)
            services.append(self.cert_renewal)
        for service in services:
            await service.start()
            self._services.append(service)

    async def _retention_loop(self) -> None:
        retention = self.config.retention
        while True:
            try:
                removed = await self.ctx.store.mail.purge_retention(
                    retention.trash_days, retention.spam_days
                )
                if removed:
                    log.info("retention: deleted %d message(s) from Trash and Spam", removed)
            except Exception:
                log.exception("retention run failed")
            await asyncio.sleep(retention.interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        # All at once: each stop closes its listening socket before it waits for its
        # sessions, so no port stays held while another listener winds down.
        await asyncio.gather(
            *(listener.stop() for listener in self.listeners.values()), return_exceptions=True
        )
        self.listeners.clear()
        for service in reversed(self._services):
            with contextlib.suppress(Exception):
                await service.stop()
        self._services.clear()
        if self._ctx is not None:
            if self._ctx.handed_connections is not None:
                self._ctx.handed_connections.close()
            await self._ctx.delivery.stop()
            with contextlib.suppress(Exception):
                await self._ctx.spam.aclose()
            await self._ctx.store.close()
            self._ctx = None
        metrics.flush_tally()  # a worker's last second of counts, kept for the scrape
