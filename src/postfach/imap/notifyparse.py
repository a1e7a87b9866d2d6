"""Parser of RFC 5465 NOTIFY (§8 ABNF) and the composition rules the RFC makes BAD.

    notify       = "NOTIFY" SP ("SET" [SP "STATUS"] SP event-groups / "NONE")
    event-group  = "(" filter-mailboxes SP events ")"
    filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
                   "subscribed" / ("subtree" / "mailboxes") SP one-or-more-mailbox
    events       = "(" event *(SP event) ")" / "NONE"
    event        = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] / atom

An event the server does not support is no syntax error: the handler refuses it
with NO [BADEVENT] (§3.1). What the RFC calls an error in the command's shape is
BAD here: both selected filters at once or a selected filter with a non-message
event (§6.1), MessageNew without MessageExpunge or the reverse, FlagChange or
AnnotationChange without both (§5).
"""

from __future__ import annotations

from postfach.imap import commands as c
from postfach.imap.fetchparse import fetch_att
from postfach.imap.lexer import Cursor

__all__ = ["EVENTS", "MESSAGE_EVENTS", "SUPPORTED_EVENTS", "p_notify"]

MESSAGE_EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange")
EVENTS = (
    *MESSAGE_EVENTS,
    "MailboxName",
    "SubscriptionChange",
    "MailboxMetadataChange",
    "ServerMetadataChange",
)
# No ANNOTATE or METADATA here: their events are refused with BADEVENT.
SUPPORTED_EVENTS = (
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
)
SELECTED_FILTERS = frozenset({"selected", "selected-delayed"})
_FILTERS = SELECTED_FILTERS | {"inboxes", "personal", "subscribed", "subtree", "mailboxes"}
_CANONICAL = {e.lower(): e for e in EVENTS}
_MAILBOX_EVENTS = frozenset(EVENTS) - set(MESSAGE_EVENTS)
MAX_GROUPS = 100  # far beyond any client's need; keeps one command's work bounded


def p_notify(cur: Cursor, uid: bool) -> c.Notify:
    cur.sp()
    tag = cur.tag or ""
    if cur.take(b"NONE"):
        return c.Notify(tag, None)
    cur.expect(b"SET")
    cur.sp()
    status = cur.take(b"STATUS ")
    groups = [_group(cur)]
    while cur.take(b" "):
        groups.append(_group(cur))
        if len(groups) > MAX_GROUPS:
            raise cur.fail("too many event groups")
    _check(cur, groups)
    return c.Notify(tag, tuple(groups), status)


def _group(cur: Cursor) -> c.NotifyGroup:
    cur.expect(b"(")
    name = cur.atom("mailbox filter").lower()
    if name not in _FILTERS:
        raise cur.fail(f"unknown mailbox filter {name[:40]}")
    cur.sp()
    mailboxes: tuple[str, ...] = ()
    if name in ("subtree", "mailboxes"):
        mailboxes = _one_or_more(cur)
        cur.sp()
    if cur.take(b"NONE"):
        cur.expect(b")")
        return c.NotifyGroup(name, mailboxes, None)
    events: set[str] = set()
    fetch: list[c.FetchAtt] = []
    cur.expect(b"(")
    while True:
        event = cur.atom("event")
        event = _CANONICAL.get(event.lower(), event)
        events.add(event)
        if event == "MessageNew" and cur.take(b" ("):
            if name not in SELECTED_FILTERS:
                raise cur.fail("fetch attributes only for the selected mailbox")
            fetch.extend(_fetch_atts(cur))
        if cur.take(b")"):
            break
        cur.sp()
    cur.expect(b")")
    return c.NotifyGroup(name, mailboxes, frozenset(events), tuple(fetch))


def _one_or_more(cur: Cursor) -> tuple[str, ...]:
    """A mailbox or a parenthesised list; a name that cannot exist matches nothing."""
    if not cur.take(b"("):
        return (cur.mailbox_name(cur.astring_bytes(), pattern=True),)
    names = [cur.mailbox_name(cur.astring_bytes(), pattern=True)]
    while not cur.take(b")"):
        cur.sp()
        names.append(cur.mailbox_name(cur.astring_bytes(), pattern=True))
        if len(names) > MAX_GROUPS:
            raise cur.fail("too many mailboxes")
    return tuple(names)


def _fetch_atts(cur: Cursor) -> list[c.FetchAtt]:
    """`(fetch-att *(SP fetch-att))` after MessageNew's space and "(" (not empty)."""
    atts: list[c.FetchAtt] = []
    while True:
        atts.extend(fetch_att(cur))
        if cur.take(b")"):
            return atts
        cur.sp()


def _check(cur: Cursor, groups: list[c.NotifyGroup]) -> None:
    if sum(g.filter in SELECTED_FILTERS for g in groups) > 1:
        raise cur.fail("only one of selected and selected-delayed")
    for group in groups:
        events = group.events or frozenset()
        if group.filter in SELECTED_FILTERS and events & _MAILBOX_EVENTS:
            raise cur.fail("only message events for the selected mailbox")
        if ("MessageNew" in events) != ("MessageExpunge" in events):
            raise cur.fail("MessageNew and MessageExpunge go together")
        if events & {"FlagChange", "AnnotationChange"} and "MessageNew" not in events:
            raise cur.fail("FlagChange needs MessageNew and MessageExpunge")
