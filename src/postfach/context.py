"""What every listener gets: the shared services of one postfach process.

`postfach.app.build_context` makes each service once per process and hands it
here as a field; nothing is looked up elsewhere by store or by process. Fields
are typed by Protocols where the implementation lives in a protocol package
(imap/recent.py, imap/indexcache.py), so this module imports no protocol.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from postfach.config import Config
from postfach.store.records import MailboxId

if TYPE_CHECKING:
    from postfach.auth import Authenticator
    from postfach.delivery import Delivery
    from postfach.net.certs import CertStore
    from postfach.net.listeners import HandedConnections, RunningListener
    from postfach.spam.verdict import Scorer
    from postfach.store.api import StoreApi
    from postfach.store.mailing import MailingStore
    from postfach.store.records import Mailbox, MailboxIndex, ModSeq

__all__ = ["MailboxIndexCache", "RecentKey", "RecentMarks", "ServerContext"]

RecentKey = tuple[MailboxId, int]  # mailbox and its UIDVALIDITY


class RecentMarks(Protocol):
    """IMAP \\Recent (RFC 3501 §2.3.2): which messages some session was told about."""

    def known(self, key: RecentKey) -> bool: ...
    async def prime(self, store: StoreApi, key: RecentKey, uids: Sequence[int]) -> None: ...
    def unclaimed(self, key: RecentKey, uids: Sequence[int]) -> list[int]: ...
    def claim(self, key: RecentKey, uid: int) -> bool: ...
    def settled(self, key: RecentKey, uidnext: int) -> bool: ...


class MailboxIndexCache(Protocol):
    """Indexes of mailboxes kept between SELECTs, each with the MODSEQ up to which
    it holds every change (imap/indexcache.py)."""

    def get(self, mailbox: Mailbox) -> tuple[ModSeq, MailboxIndex] | None: ...
    def has(self, mailbox_id: MailboxId) -> bool: ...
    def put(self, mailbox: Mailbox, modseq: ModSeq, index: MailboxIndex) -> None: ...


@dataclass(slots=True)
class ServerContext:
    config: Config
    store: StoreApi
    auth: Authenticator
    delivery: Delivery
    ssl_context: ssl.SSLContext
    node_id: str  # unique per process: owner of cross-node locks
    recent: RecentMarks  # IMAP \Recent marks (imap/recent.py)
    index_cache: MailboxIndexCache  # IMAP SELECT's indexes of big mailboxes (imap/indexcache.py)
    mailing: MailingStore  # the mailing tables, made sure of once at start
    # Campaigns being sent in this process: one run each, however many facades
    # (the engine's, the admin API's) start one (mailing/scheduler.py).
    campaigns_sending: set[int]
    spam: Scorer  # how suspicious mail from outside is; learns from filing (spam/scorers.py)
    # A worker of `serve --workers N`: listening sockets the supervisor bound, by
    # listener (HTTP), and the connections it accepts and hands over (the others).
    listen_sockets: dict[str, socket.socket] = field(default_factory=dict)
    handed_connections: HandedConnections | None = None
    # The certificates behind ssl_context (net/certs.py); the HTTPS listener's own
    # context also answers ACME's TLS-ALPN-01 challenges from them.
    certs: CertStore | None = None
    # Listeners this process is to serve, and those started, by name (/readyz).
    listeners_expected: set[str] = field(default_factory=set)
    listeners: dict[str, RunningListener] = field(default_factory=dict)

    @property
    def hostname(self) -> str:
        return self.config.server.hostname
