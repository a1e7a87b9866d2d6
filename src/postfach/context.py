"""What every listener gets: the shared services of one postfach process.

`postfach.app.build_context` makes each service once per process and hands it
here as a field; nothing is looked up elsewhere by store or by process.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postfach.config import Config

if TYPE_CHECKING:
    from postfach.auth import Authenticator
    from postfach.delivery import Delivery
    from postfach.imap.indexcache import IndexCache
    from postfach.imap.recent import RecentTracker
    from postfach.net import HandedConnections
    from postfach.store.mailing import MailingStore
    from postfach.store.roles import ServerStore

__all__ = ["ServerContext"]


@dataclass(slots=True)
class ServerContext:
    config: Config
    store: ServerStore
    auth: Authenticator
    delivery: Delivery
    ssl_context: ssl.SSLContext
    node_id: str  # unique per process: owner of cross-node locks
    recent: RecentTracker  # IMAP \Recent marks (imap/recent.py)
    index_cache: IndexCache  # IMAP SELECT's indexes of big mailboxes (imap/indexcache.py)
    mailing: MailingStore  # the mailing tables, made sure of once at start
    # Campaigns being sent in this process: one run each, however many facades
    # (the engine's, the admin API's) start one (mailing/scheduler.py).
    campaigns_sending: set[int]
    # A worker of `serve --workers N`: listening sockets the supervisor bound, by
    # listener (HTTP), and the connections it accepts and hands over (the others).
    listen_sockets: dict[str, socket.socket] = field(default_factory=dict)
    handed_connections: HandedConnections | None = None

    @property
    def hostname(self) -> str:
        return self.config.server.hostname
