"""RFC 5465 NOTIFY: what a session was asked to report, and what it heard meanwhile.

The session hands every change it takes from the hub to `Notifying.hear`, at
whatever moment it takes them (the start or end of a command, between commands,
in IDLE). Changes to the selected mailbox are the view's (selected.py); what is
kept here is bounded by the account's size, never by the number of changes: the
set of events per other mailbox, and one mark that the folder list or the
subscriptions changed. handlers/notify.py turns them into STATUS and LIST
responses, reading the store, so a change made on another worker or node is
reported the same way as one made here.

Matching follows §6 as mox reads it: the event groups are tried in order until
one matching the mailbox names the event; a matching group with NONE stops the
search. The selected mailbox's message events come only from the selected
filters. "inboxes" is "personal": mail is delivered (Sieve `fileinto`) into any
folder, so every folder may be an inbox (§6.3 allows this).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postfach.imap import commands as c
from postfach.imap.notifyparse import SELECTED_FILTERS
from postfach.store.events import Change, ChangeAddUid, ChangeExpunge, ChangeFlags, ChangeMailboxes
from postfach.store.records import MailboxId

__all__ = ["MAX_BACKLOG", "Moment", "Notifying"]

# Octets of output the client has not taken yet past which notifying stops with
# NOTIFICATIONOVERFLOW (§5.8): a client that does not read costs no more memory.
MAX_BACKLOG = 1 << 20
SEP = "/"

_EVENT_OF = {ChangeAddUid: "MessageNew", ChangeExpunge: "MessageExpunge", ChangeFlags: "FlagChange"}


@dataclass(frozen=True, slots=True)
class Moment:
    """When the session reports: between commands (or in IDLE), or at the end of a
    command, which may have added messages to the selected mailbox itself."""

    between: bool
    own_arrivals: bool = False  # APPEND, COPY, MOVE: no MessageNew FETCH for those (§5.2)


@dataclass(slots=True)
class Notifying:
    groups: tuple[c.NotifyGroup, ...]
    names: dict[MailboxId, str]  # the account's folders as last reported
    subscribed: set[str]  # the subscriptions as last reported
    heard: dict[MailboxId, set[str]] = field(default_factory=dict)  # other folders' events
    list_changed: bool = False  # ChangeMailboxes: folders or subscriptions changed

    @property
    def selected(self) -> c.NotifyGroup | None:
        return next((g for g in self.groups if g.filter in SELECTED_FILTERS), None)

    @property
    def selected_events(self) -> frozenset[str]:
        group = self.selected
        return group.events or frozenset() if group is not None else frozenset()

    @property
    def immediate_expunge(self) -> bool:
        """`selected` reports expunges at once; `selected-delayed` as without NOTIFY."""
        group = self.selected
        return group is not None and group.filter == "selected"

    def hear(self, changes: list[Change], selected: MailboxId | None) -> None:
        for change in changes:
            if isinstance(change, ChangeMailboxes):
                self.list_changed = True
            elif isinstance(change, ChangeAddUid | ChangeExpunge | ChangeFlags):
                if change.mailbox_id != selected:
                    self.heard.setdefault(change.mailbox_id, set()).add(_EVENT_OF[type(change)])

    def take_heard(self) -> dict[MailboxId, set[str]]:
        heard, self.heard = self.heard, {}
        return heard

    def match(self, name: str, event: str) -> c.NotifyGroup | None:
        """The group of a non-selected filter that asks for `event` on `name`."""
        for group in self.groups:
            if group.filter in SELECTED_FILTERS or not self._covers(group, name):
                continue
            if group.events is None:
                return None
            if event in group.events:
                return group
        return None

    def wants_status(self, name: str) -> c.NotifyGroup | None:
        """The group asking for any message event on `name` (STATUS at NOTIFY SET STATUS)."""
        for event in ("MessageNew", "MessageExpunge", "FlagChange"):
            group = self.match(name, event)
            if group is not None:
                return group
        return None

    def _covers(self, group: c.NotifyGroup, name: str) -> bool:
        kind = group.filter
        if kind in ("personal", "inboxes"):
            return True
        if kind == "subscribed":
            return name in self.subscribed
        if kind == "mailboxes":
            return name in group.mailboxes
        return any(name == m or name.startswith(m + SEP) for m in group.mailboxes)
