"""One postfach process: the store, the shared services and every configured listener."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from typing import Any, Protocol

from postfach.auth import Authenticator
from postfach.config import Config, ListenerSpec
from postfach.context import ServerContext
from postfach.delivery import Delivery
from postfach.net import Listener
from postfach.store import Store
from postfach.tls import server_ssl_context

__all__ = ["App", "LISTENER_MODULES"]

log = logging.getLogger(__name__)

# Which package serves which listener; each has `start_listener(ctx, spec)`.
LISTENER_MODULES = {
    "smtp": "postfach.smtp.server",
    "submission": "postfach.smtp.server",
    "submissions": "postfach.smtp.server",
    "devices": "postfach.smtp.server",
    "imap": "postfach.imap.server",
    "imaps": "postfach.imap.server",
    "pop3": "postfach.pop3.server",
    "pop3s": "postfach.pop3.server",
    "http": "postfach.web.server",
}


class _Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class App:
    """Starts and stops everything `postfach serve` runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.listeners: dict[str, Listener] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._services: list[_Service] = []
        self._ctx: ServerContext | None = None

    @property
    def ctx(self) -> ServerContext:
        assert self._ctx is not None, "App.start() first"
        return self._ctx

    def port(self, name: str) -> int:
        return self.listeners[name].port

    async def start(self) -> None:
        config = self.config
        store = await Store.connect(config.storage.url)
        await store.start_change_feed()
        self._ctx = ServerContext(
            config=config,
            store=store,
            auth=Authenticator(store, config.auth),
            delivery=Delivery(store, config.server.hostname),
            ssl_context=server_ssl_context(config),
            node_id=f"{socket.gethostname()}:{os.getpid()}:{id(self):x}",
        )
        try:
            for spec in config.listeners_enabled():
                await self._start_listener(spec)
            await self._start_services()
        except BaseException:
            await self.stop()
            raise
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))

    async def _start_listener(self, spec: ListenerSpec) -> None:
        try:
            module: Any = importlib.import_module(LISTENER_MODULES[spec.name])
        except ModuleNotFoundError:
            log.warning("listener %s: not available in this build", spec.name)
            return
        self.listeners[spec.name] = await module.start_listener(self.ctx, spec)

    async def _start_services(self) -> None:
        """Background workers of other packages (outbound queue, mailing)."""
        for dotted in (
            "postfach.queue.worker:QueueWorker",
            "postfach.mailing.service:MailingService",
        ):
            module_name, _, class_name = dotted.partition(":")
            try:
                module: Any = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            service: _Service = getattr(module, class_name)(self.ctx)
            await service.start()
            self._services.append(service)

    async def _retention_loop(self) -> None:
        retention = self.config.retention
        while True:
            try:
                removed = await self.ctx.store.purge_retention(
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
        for listener in self.listeners.values():
            with contextlib.suppress(Exception):
                await listener.stop()
        self.listeners.clear()
        for service in reversed(self._services):
            with contextlib.suppress(Exception):
                await service.stop()
        self._services.clear()
        if self._ctx is not None:
            await self._ctx.delivery.stop()
            await self._ctx.store.close()
            self._ctx = None
