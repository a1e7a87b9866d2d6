"""The `http` and `https` listeners: uvicorn's server run inside postfach's event loop.

`https` serves the pages, the APIs, autoconfig/autodiscover, MTA-STS and ACME's
TLS-ALPN-01 challenges, with the certificate chosen per name (net/certs.py).
`http` serves the same over plain HTTP when there is no `https` listener (a
TLS proxy in front) or in --dev; beside an `https` listener it redirects there
(web/wellknown.py). Both sit behind the same guard (web/guard.py).

`start_listener` is what `postfach.app.App` calls; it returns an object with
the two members App uses of `postfach.net.listeners.Listener`: `port` (the bound port,
also when the configuration says 0) and `stop()`, which also ends the campaign
runs started through the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net.listeners import Admission
from postfach.net.proxyproto import TrustedProxies
from postfach.serving import listener_env
from postfach.web import health
from postfach.web.app import build_app
from postfach.web.forwarded import ForwardedHeaders
from postfach.web.guard import HttpGuard, guarded_protocol
from postfach.web.mailing_campaigns import stop_runs
from postfach.web.wellknown import build_redirect_app

__all__ = ["WebListener", "start_listener", "start_metrics_listener"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: `postfach serve` owns those."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebListener:
    """A running HTTP listener."""

    def __init__(
        self,
        spec: ListenerSpec,
        server: _EmbeddedServer,
        task: asyncio.Task[None],
        app: Starlette | None = None,
    ) -> None:
        self.spec = spec
        self._server = server
        self._task = task
        self._app = app

    @property
    def port(self) -> int:
        for server in getattr(self._server, "servers", ()):
            for sock in server.sockets or ():
                return int(sock.getsockname()[1])
        return self.spec.port

    @property
    def serving(self) -> bool:
        return self._server.started and not self._task.done() and not self._server.should_exit

    async def stop(self) -> None:
        if self._app is not None:
            await stop_runs(self._app)
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_GRACE + 2)
        except (TimeoutError, asyncio.CancelledError, Exception):
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception, SystemExit):
                await self._task


def _tls(ctx: ServerContext) -> ssl.SSLContext:
    if ctx.certs is not None:
        return ctx.certs.server_context(acme_challenges=True)
    return ctx.ssl_context


def _app_for(ctx: ServerContext, spec: ListenerSpec) -> tuple[Starlette, bool]:
    """The application of a listener, and whether it is the whole site."""
    https = ctx.config.listener("https")
    if spec.name == "http" and https is not None and not ctx.config.dev:
        return build_redirect_app(ctx, ctx.config.public_port(https)), False
    return build_app(ctx), True


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> WebListener:
    """Starts the `http` or `https` listener on `spec.host:spec.port`."""
    app, whole_site = _app_for(ctx, spec)
    tls = _tls(ctx) if spec.name == "https" else None
    return await _start(ctx, spec, app, tls=tls, whole_site=whole_site)


async def start_metrics_listener(ctx: ServerContext, spec: ListenerSpec) -> WebListener:
    """Starts the `metrics` listener: /metrics, /healthz, /readyz, nothing else."""
    app = Starlette(routes=health.routes(guarded=False))
    app.state.ctx = ctx
    return await _start(ctx, spec, app)


async def _start(
    ctx: ServerContext,
    spec: ListenerSpec,
    app: Starlette,
    *,
    tls: ssl.SSLContext | None = None,
    whole_site: bool = False,
) -> WebListener:
    limits = ctx.config.limits
    trusted = TrustedProxies(ctx.config.proxy.trusted)
    config = uvicorn.Config(
        ForwardedHeaders(app, trusted),
        host=spec.host,
        port=spec.port,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # ForwardedHeaders instead: proxy.trusted, and Forwarded too
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
    )
    # A trusted proxy (proxy.trusted) speaks for many clients (their addresses are
    # in its X-Forwarded-For): it is not held to the per-address limit.
    guard = HttpGuard(
        Admission(listener_env(ctx, spec), exempt=trusted),
        header_timeout=limits.http_header_timeout,
        body_timeout=limits.http_body_timeout,
    )
    config.http = guarded_protocol(guard)
    config.load()
    config.ssl = tls  # ours, choosing the certificate per name; uvicorn's takes files
    server = _EmbeddedServer(config)
    inherited = ctx.listen_sockets.get(spec.name)
    sockets = [inherited] if inherited is not None else None
    name = f"{spec.name} {spec.host}:{spec.port}"
    task = asyncio.create_task(_serve(server, sockets, spec.name), name=name)
    while not server.started:
        if task.done():
            raise OSError(f"{spec.name} listener: cannot listen on {spec.host}:{spec.port}")
        await asyncio.sleep(0.01)
    return WebListener(spec, server, task, app if whole_site else None)


async def _serve(server: _EmbeddedServer, sockets: list[socket.socket] | None, name: str) -> None:
    try:
        await server.serve(sockets=sockets)
    except SystemExit:  # uvicorn exits when it cannot bind
        log.error("%s listener failed to start", name)
