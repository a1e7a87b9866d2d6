"""Changes the store commits, fanned out to every session that watches an account.

A mutation commits first, then publishes; sessions turn the values into untagged
responses (IMAP) or refuse further commands (logout everywhere). Within one
process the hub is a set of asyncio queues; across nodes on PostgreSQL the same
values travel over LISTEN/NOTIFY (see store/notify.py). The hub is the
store's `store.hub` (`HubApi`); it owns no table.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from postfach.store.records import AccountId, MailboxId, ModSeq, Uid

__all__ = [
    "Change",
    "ChangeAccountSettings",
    "ChangeAddUid",
    "ChangeCredentials",
    "ChangeExpunge",
    "ChangeFlags",
    "ChangeMailboxes",
    "ChangeQueued",
    "Hub",
    "QUEUE_WATCH",
]


@dataclass(frozen=True, slots=True)
class ChangeAddUid:
    mailbox_id: MailboxId
    uid: Uid
    modseq: ModSeq
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChangeExpunge:
    mailbox_id: MailboxId
    uids: tuple[Uid, ...]
    modseq: ModSeq


@dataclass(frozen=True, slots=True)
class ChangeFlags:
    mailbox_id: MailboxId
    uid: Uid
    modseq: ModSeq
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChangeMailboxes:
    """The folder list changed (create, delete, rename), or the subscriptions did."""


@dataclass(frozen=True, slots=True)
class ChangeQueued:
    """Mail entered the outbound queue or was made due: the queue worker should look.
    Published on QUEUE_WATCH, which is no account's id."""


# Account ids start at 1: 0 carries what concerns the server rather than an account.
QUEUE_WATCH = AccountId(0)


@dataclass(frozen=True, slots=True)
class ChangeCredentials:
    """Password change or "log out on all devices": sessions of an older generation end."""

    generation: int
    logout: bool  # True for logout-everywhere, False for a password change


@dataclass(frozen=True, slots=True)
class ChangeAccountSettings:
    """The account's spam settings, learnt totals or Sieve scripts changed: the
    caches of every process drop its entry (store/settings_cache.py). Goes to
    `Hub.on_settings`, not to the sessions watching the account."""


Change = (
    ChangeAddUid
    | ChangeExpunge
    | ChangeFlags
    | ChangeMailboxes
    | ChangeCredentials
    | ChangeQueued
    | ChangeAccountSettings
)


class Hub:
    """Fans committed changes out to the sessions watching an account."""

    def __init__(self) -> None:
        self._watchers: dict[AccountId, set[asyncio.Queue[Change]]] = defaultdict(set)
        # Set by the store on PostgreSQL: carries changes to the other nodes.
        self.forward: Callable[[AccountId, list[Change]], None] | None = None
        # Set by the store: hears ChangeAccountSettings, from here and elsewhere.
        self.on_settings: Callable[[AccountId], None] | None = None

    @contextmanager
    def watch(self, account_id: AccountId) -> Iterator[asyncio.Queue[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._watchers[account_id].add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers.get(account_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[account_id]

    def publish(self, account_id: AccountId, changes: list[Change]) -> None:
        """Called after commit: this process's sessions, then the other nodes."""
        self.deliver_local(account_id, changes)
        if self.forward is not None and changes:
            self.forward(account_id, changes)

    def deliver_local(self, account_id: AccountId, changes: list[Change]) -> None:
        watchers = self._watchers.get(account_id, ())
        for change in changes:
            if isinstance(change, ChangeAccountSettings):
                if self.on_settings is not None:
                    self.on_settings(account_id)
                continue
            for queue in watchers:
                queue.put_nowait(change)

    def watching(self, account_id: AccountId) -> int:
        return len(self._watchers.get(account_id, ()))
