"""What every listener gets: the shared services of one postfach process."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postfach.config import Config

if TYPE_CHECKING:
    from postfach.auth import Authenticator
    from postfach.delivery import Delivery
    from postfach.net.listeners import HandedConnections
    from postfach.store import Store

__all__ = ["ServerContext"]


@dataclass(slots=True)
class ServerContext:
    config: Config
    store: Store
    auth: Authenticator
    delivery: Delivery
    ssl_context: ssl.SSLContext
    node_id: str  # unique per process: owner of cross-node locks
    # A worker of `serve --workers N`: listening sockets the supervisor bound, by
    # listener (HTTP), and the connections it accepts and hands over (the others).
    listen_sockets: dict[str, socket.socket] = field(default_factory=dict)
    handed_connections: HandedConnections | None = None

    @property
    def hostname(self) -> str:
        return self.config.server.hostname
