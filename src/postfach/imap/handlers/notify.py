"""NOTIFY (RFC 5465): the command, and the responses it asks for as changes come.

`notify` sets or clears the session's `Notifying` (imap/notifying.py). `deliver`
runs whenever the session has taken changes while NOTIFY is set: at the end of
each command, and between commands (server.py) or in IDLE, when the hub tells
of a change. It writes
- for the selected mailbox, between commands, what the selected filter asks:
  EXISTS and the MessageNew fetch-atts' FETCH, EXPUNGE at once for `selected`
  (held until a command may announce it for `selected-delayed`), FETCH FLAGS for
  FlagChange (§5.1-5.3);
- for other mailboxes, STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN, and
  HIGHESTMODSEQ for FlagChange or with CONDSTORE) as Dovecot sends it;
- LIST for folders created, deleted (\\NonExistent) or renamed (OLDNAME) (§5.4)
  and for subscriptions changed (\\Subscribed when subscribed) (§5.5), found by
  comparing the folder list and subscriptions with those last reported.
Past `MAX_BACKLOG` octets the client has not read, it sends
`* OK [NOTIFICATIONOVERFLOW]` and acts as after NOTIFY NONE (§5.8).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap import notifying
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.grammar import SeqSet
from postfach.imap.handlers.mailboxes import wire_name
from postfach.imap.notifying import Moment, Notifying
from postfach.imap.notifyparse import SUPPORTED_EVENTS
from postfach.store.records import Mailbox, MailboxId

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["deliver", "notify"]

BADEVENT = "BADEVENT (" + " ".join(SUPPORTED_EVENTS) + ")"
OVERFLOW = "OK [NOTIFICATIONOVERFLOW] Too many notifications; NOTIFY is off"


async def notify(s: Session, cmd: c.Notify) -> str:
    """§3.1. The session's catch-up around every command is the implicit NOOP."""
    if cmd.groups is None:
        s.set_notifying(None)
        return "NOTIFY completed"
    asked = {e for g in cmd.groups for e in g.events or ()}
    if asked - set(SUPPORTED_EVENTS):
        raise No("Unsupported NOTIFY events", BADEVENT)
    store = s.ctx.store.mailboxes
    account = s.require_account()
    mailboxes = sorted(
        await store.list_mailboxes(account.id), key=lambda m: (m.name != "INBOX", m.name)
    )
    state = Notifying(cmd.groups, {m.id: m.name for m in mailboxes}, set())
    state.subscribed = await store.subscriptions(account.id)
    if cmd.status:
        selected = s.view.mailbox_id if s.view is not None else None
        for mailbox in mailboxes:
            group = state.wants_status(mailbox.name)
            if group is not None and mailbox.id != selected:
                await _write_status(s, mailbox, group)
    view = s.view
    if view is not None and view.announced_exists:  # known already: no MessageNew FETCH
        view.notified_uid = max(view.notified_uid, view.uids[view.announced_exists - 1])
    s.set_notifying(state)
    return "NOTIFY completed"


async def deliver(s: Session, moment: Moment) -> None:
    """Writes what NOTIFY asks for of the changes taken so far (see the module doc)."""
    state = s.notifying
    if state is None:
        return
    if s.conn.backlog() >= notifying.MAX_BACKLOG:
        s.set_notifying(None)
        s.conn.write(r.untagged(OVERFLOW))
        return
    if moment.between and s.view is not None and "MessageNew" in state.selected_events:
        await _selected(s, state)
    await _fetch_new(s, state, fetch=not moment.own_arrivals)
    if state.list_changed:
        state.list_changed = False
        await _list_changes(s, state)
    for mailbox_id, events in state.take_heard().items():
        await _heard(s, state, mailbox_id, events)


async def _selected(s: Session, state: Notifying) -> None:
    """§5.2-5.3 for the selected mailbox, between commands."""
    while s.dirty and s.view is not None:
        await s.catch_up()
    view = s.view
    if view is None:
        return
    flags = "FlagChange" in state.selected_events
    s.report_view(allow_expunge=state.immediate_expunge, flags=flags)
    await s.refresh_contexts()


async def _fetch_new(s: Session, state: Notifying, fetch: bool) -> None:
    """§5.2: the MessageNew fetch-atts of the messages announced since the last
    call, between commands or at a command's end; none for the session's own."""
    view = s.view
    group = state.selected
    if view is None or group is None or not group.fetch or not view.announced_exists:
        return
    top = view.uids[view.announced_exists - 1]
    start = bisect.bisect_right(view.uids, view.notified_uid)
    view.notified_uid = max(view.notified_uid, top)
    if not fetch or start >= view.announced_exists:
        return
    # PEEK: a notification must not mark the message \Seen (§5.2).
    atts = (c.FetchAtt("UID"), *(_peek(a) for a in group.fetch if a.name != "UID"))
    handler, _ = s.commands[c.Fetch]
    await handler(s, c.Fetch("*", True, SeqSet(((view.uids[start], top),)), atts))


def _peek(att: c.FetchAtt) -> c.FetchAtt:
    if att.name in ("BODY", "BINARY") and att.section is not None:
        return c.FetchAtt(att.name, att.section, att.partial, peek=True)
    if att.name == "RFC822":
        return c.FetchAtt("BODY", c.Section((), "", ()), None, peek=True)
    if att.name == "RFC822.TEXT":
        return c.FetchAtt("BODY", c.Section((), "TEXT", ()), None, peek=True)
    return att


async def _heard(s: Session, state: Notifying, mailbox_id: MailboxId, events: set[str]) -> None:
    name = state.names.get(mailbox_id)
    if name is None:  # created since it was last listed
        await _list_changes(s, state)
        name = state.names.get(mailbox_id)
    view = s.view
    if name is None or (view is not None and view.mailbox_id == mailbox_id):
        return
    group = next((g for e in sorted(events) if (g := state.match(name, e)) is not None), None)
    if group is None:
        return
    mailbox = await s.ctx.store.mailboxes.get_mailbox_by_id(mailbox_id)
    if mailbox is not None:
        await _write_status(s, mailbox, group)


async def _write_status(s: Session, mailbox: Mailbox, group: c.NotifyGroup) -> None:
    st = await s.ctx.store.mailboxes.mailbox_status(mailbox.id)
    box = st.mailbox
    items = (
        f"MESSAGES {st.messages} UIDNEXT {int(box.uidnext)} "
        f"UIDVALIDITY {box.uidvalidity} UNSEEN {st.unseen}"
    )
    if s.condstore or "FlagChange" in (group.events or ()):
        items += f" HIGHESTMODSEQ {int(box.highestmodseq)}"
    s.conn.write(r.untagged(b"STATUS " + wire_name(s, box.name) + f" ({items})".encode()))


async def _list_changes(s: Session, state: Notifying) -> None:
    """§5.4 MailboxName and §5.5 SubscriptionChange: the folder list and the
    subscriptions against those last reported."""
    store = s.ctx.store.mailboxes
    account = s.require_account()
    now = {m.id: m.name for m in await store.list_mailboxes(account.id)}
    subscribed = await store.subscriptions(account.id)
    before, state.names = state.names, now
    was_subscribed, state.subscribed = state.subscribed, subscribed
    names = set(now.values())
    lines: list[bytes] = []
    for mailbox_id, name in sorted(now.items(), key=lambda kv: kv[1]):
        old = before.get(mailbox_id)
        if old != name and _asks(state, "MailboxName", name, old):
            lines.append(_list_line(s, name, names, subscribed, old))
    for mailbox_id, old in sorted(before.items(), key=lambda kv: kv[1]):
        if mailbox_id not in now and old not in names and _asks(state, "MailboxName", old):
            lines.append(_list_line(s, old, names, subscribed))
    for name in sorted(subscribed ^ was_subscribed):
        if _asks(state, "SubscriptionChange", name):
            lines.append(_list_line(s, name, names, subscribed))
    for line in lines:
        s.conn.write(line)


def _asks(state: Notifying, event: str, name: str, old: str | None = None) -> bool:
    return state.match(name, event) is not None or (
        old is not None and state.match(old, event) is not None
    )


def _list_line(
    s: Session, name: str, names: set[str], subscribed: set[str], old: str | None = None
) -> bytes:
    attrs: list[str] = []
    if name not in names:
        attrs.append("\\NonExistent")
    else:
        children = any(n.startswith(name + notifying.SEP) for n in names)
        attrs.append("\\HasChildren" if children else "\\HasNoChildren")
    if name in subscribed:
        attrs.append("\\Subscribed")
    line = f'LIST ({" ".join(attrs)}) "/" '.encode() + wire_name(s, name)
    if old is not None:
        line += b' ("OLDNAME" (' + wire_name(s, old) + b"))"
    return r.untagged(line)
