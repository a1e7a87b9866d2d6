"""The wire layer's environment, built from a process's ServerContext.

postfach.net knows no store and no context; this is where the two meet: the
listener's limits and TLS context, the supervisor's hand-over, and the runtime
file's per-address connection counts behind net's `ConnectionCounts`.
"""

from __future__ import annotations

from postfach import metrics
from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net.listeners import CountsUnavailable, ListenerEnv
from postfach.net.proxyproto import TrustedProxies
from postfach.store.api import StoreError
from postfach.store.runtime import RuntimeState

__all__ = ["RuntimeCounts", "listener_env"]


class RuntimeCounts:
    """net.ConnectionCounts kept in the runtime file the workers share."""

    __slots__ = ("_runtime",)

    def __init__(self, runtime: RuntimeState) -> None:
        self._runtime = runtime

    def connection_opened(self, listener: str, ip: str, limit: int) -> bool:
        try:
            return self._runtime.connection_opened(listener, ip, limit)
        except StoreError as exc:
            raise CountsUnavailable(str(exc)) from exc

    def connection_closed(self, listener: str, ip: str) -> None:
        try:
            self._runtime.connection_closed(listener, ip)
        except StoreError as exc:
            raise CountsUnavailable(str(exc)) from exc


def listener_env(ctx: ServerContext, spec: ListenerSpec) -> ListenerEnv:
    limits = ctx.config.limits
    runtime = ctx.store.runtime
    proxy = ctx.config.proxy
    return ListenerEnv(
        spec=spec,
        ssl_context=ctx.ssl_context,
        max_connections=limits.max_connections,
        max_connections_per_ip=limits.max_connections_per_ip,
        shared_counts=RuntimeCounts(runtime) if runtime is not None else None,
        handed=ctx.handed_connections,
        proxy_protocol=spec.name in proxy.protocol_listeners,
        trusted_proxies=TrustedProxies(proxy.trusted),
        proxy_header_timeout=proxy.header_timeout,
        on_connection=metrics.connection_opened,
    )
