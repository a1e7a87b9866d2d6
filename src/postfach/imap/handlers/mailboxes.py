"""Mailbox commands of the authenticated state: NAMESPACE, CREATE, DELETE, RENAME,
(UN)SUBSCRIBE, LIST/LSUB (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
RFC 6154 SPECIAL-USE), STATUS (RFC 8438 SIZE) and QUOTA (RFC 9208).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postfach.cooperative import Budget
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import Bad, No
from postfach.imap.grammar import astring, encode_mutf7
from postfach.imap.patterns import MailboxPattern, compile_pattern, match_steps
from postfach.store.records import Account, Mailbox, MailboxStatus

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = [
    "create",
    "delete",
    "getquota",
    "getquotaroot",
    "list_mailboxes",
    "namespace",
    "rename",
    "setquota",
    "status",
    "subscribe",
]

SEP = "/"
SPECIAL_USES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)
QUOTA_ROOT = ""
# Matching steps (imap/patterns.py) between turns of the loop: a LIST of many long
# patterns over many names is real work even in linear time.
LIST_STEPS_PER_TURN = 50_000


def wire_name(s: Session, name: str) -> bytes:
    """A mailbox name as the client expects it: modified UTF-7 unless UTF-8 is enabled."""
    return astring(name if s.utf8 else encode_mutf7(name), s.utf8)


def check_name(name: str) -> str:
    """Validates a mailbox name for CREATE/RENAME; strips one trailing separator."""
    if name.endswith(SEP):
        name = name[:-1]
    parts = name.split(SEP)
    if not name or any(not p for p in parts) or any(ord(ch) < 0x20 or ch in "%*" for ch in name):
        raise No("Invalid mailbox name", "CANNOT")
    if len(name) > 500:
        raise No("Mailbox name too long", "CANNOT")
    return name


async def mailbox_or_fail(s: Session, name: str, trycreate: bool = False) -> Mailbox:
    mailbox = await s.ctx.store.mailboxes.get_mailbox(s.require_account().id, name)
    if mailbox is None:
        if trycreate:
            raise No(r.TRY_CREATE, "TRYCREATE")
        raise No(r.NO_SUCH_MAILBOX, "NONEXISTENT")
    return mailbox


async def namespace(s: Session, cmd: c.Namespace) -> str:
    """RFC 2342: one personal namespace, no prefix, "/" as separator."""
    s.conn.write(r.untagged('NAMESPACE (("" "/")) NIL NIL'))
    return "NAMESPACE completed"


async def create(s: Session, cmd: c.Create) -> str:
    """RFC 9051 §6.3.4; missing parents are created too; CREATE-SPECIAL-USE (RFC 6154 §3)."""
    account = s.require_account()
    name = check_name(cmd.mailbox)
    if name.upper() == "INBOX":
        raise No("INBOX exists already", "ALREADYEXISTS")
    use = None
    for flag in cmd.special_use:
        if flag not in SPECIAL_USES:
            raise No(f"Unsupported special-use attribute {flag}", "USEATTR")
        use = flag
    if len(cmd.special_use) > 1:
        raise No("One special-use attribute per mailbox", "USEATTR")
    store = s.ctx.store
    existing = {m.name for m in await store.mailboxes.list_mailboxes(account.id)}
    if name in existing:
        raise No("Mailbox already exists", "ALREADYEXISTS")
    parts = name.split(SEP)
    for depth in range(1, len(parts)):
        parent = SEP.join(parts[:depth])
        if parent not in existing and parent.upper() != "INBOX":
            await store.mailboxes.create_mailbox(account.id, parent)
    created = await store.mailboxes.create_mailbox(account.id, name, use)
    return f"[MAILBOXID ({created.objectid})] CREATE completed"


async def delete(s: Session, cmd: c.Delete) -> str:
    """RFC 9051 §6.3.5: INBOX cannot go; a folder with children stays (no \\Noselect remnants)."""
    account = s.require_account()
    if cmd.mailbox == "INBOX":
        raise No("INBOX cannot be deleted", "CANNOT")
    names = {m.name for m in await s.ctx.store.mailboxes.list_mailboxes(account.id)}
    if cmd.mailbox not in names:
        raise No(r.NO_SUCH_MAILBOX, "NONEXISTENT")
    if any(n.startswith(cmd.mailbox + SEP) for n in names):
        raise No("Mailbox has children; delete them first", "INUSE")
    view = s.view
    await s.ctx.store.mailboxes.delete_mailbox(account.id, cmd.mailbox)
    if view is not None and view.name == cmd.mailbox:
        s.leave_selected()
    return "DELETE completed"


async def rename(s: Session, cmd: c.Rename) -> str:
    """RFC 9051 §6.3.6, including renaming INBOX (its messages move; INBOX stays)."""
    account = s.require_account()
    new = check_name(cmd.new)
    names = {m.name for m in await s.ctx.store.mailboxes.list_mailboxes(account.id)}
    if cmd.old not in names:
        raise No(r.NO_SUCH_MAILBOX, "NONEXISTENT")
    if new in names or new.upper() == "INBOX":
        raise No("Mailbox already exists", "ALREADYEXISTS")
    if cmd.old != "INBOX" and (new + SEP).startswith(cmd.old + SEP):
        raise No("Cannot move a mailbox into itself", "CANNOT")
    parts = new.split(SEP)
    for depth in range(1, len(parts)):
        parent = SEP.join(parts[:depth])
        if parent not in names and parent.upper() != "INBOX":
            await s.ctx.store.mailboxes.create_mailbox(account.id, parent)
    await s.ctx.store.mailboxes.rename_mailbox(account.id, cmd.old, new)
    return "RENAME completed"


async def subscribe(s: Session, cmd: c.Subscribe) -> str:
    """RFC 9051 §6.3.7-8; subscribing to a missing mailbox is refused, unsubscribing is not."""
    account = s.require_account()
    if cmd.subscribe:
        await mailbox_or_fail(s, cmd.mailbox)
    await s.ctx.store.mailboxes.set_subscribed(account.id, cmd.mailbox, cmd.subscribe)
    return ("SUBSCRIBE" if cmd.subscribe else "UNSUBSCRIBE") + " completed"


# -- LIST ------------------------------------------------------------------------------


def _join(reference: str, pattern: str) -> str:
    if not reference or pattern.startswith(SEP):
        return pattern if not reference else reference.rstrip(SEP) + pattern
    return (
        reference + pattern
        if reference.endswith(SEP)
        else reference + SEP + pattern
        if pattern
        else reference
    )


async def list_mailboxes(s: Session, cmd: c.ListMailboxes) -> str:
    """RFC 9051 §6.3.9, LSUB (RFC 3501 §6.3.9) and the LIST-EXTENDED options."""
    account = s.require_account()
    verb = "LSUB" if cmd.lsub else "LIST"
    if cmd.patterns == ("",) and not cmd.extended:
        s.conn.write(r.untagged(f'{verb} (\\Noselect) "/" ""'))
        return f"{verb} completed"
    mailboxes = {m.name: m for m in await s.ctx.store.mailboxes.list_mailboxes(account.id)}
    subscribed = await s.ctx.store.mailboxes.subscriptions(account.id)
    patterns = [compile_pattern(_join(cmd.reference, p), SEP) for p in cmd.patterns]
    by_subscription = cmd.lsub or "SUBSCRIBED" in cmd.select_opts
    base = subscribed if by_subscription else set(mailboxes)
    budget = Budget(LIST_STEPS_PER_TURN)
    parents = _parents(base)
    if cmd.lsub and any("*" in p for p in cmd.patterns):
        parents = set()
    if by_subscription and not cmd.lsub:
        parents = set()
        if "RECURSIVEMATCH" in cmd.select_opts:
            parents = await _childinfo_parents(patterns, subscribed, budget)
    names = _Names(mailboxes, subscribed, _parents(set(mailboxes)))
    for name in sorted(base | parents, key=_list_order):
        if not await _any_match(patterns, name, budget):
            continue
        attrs = _attributes(s, cmd, name, names)
        if attrs is None:
            continue
        line = f'{verb} ({" ".join(attrs)}) "/" '.encode() + wire_name(s, name)
        if by_subscription and not cmd.lsub and name not in subscribed:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'
        s.conn.write(r.untagged(line))
        mailbox = mailboxes.get(name)
        if "STATUS" in cmd.return_opts and mailbox is not None:
            await _write_status(s, mailbox, cmd.status_items)
    return f"{verb} completed"


async def _any_match(patterns: list[MailboxPattern], name: str, budget: Budget) -> bool:
    for pattern in patterns:
        found, steps = match_steps(pattern, name)
        await budget.charge(steps)
        if found:
            return True
    return False


async def _childinfo_parents(
    patterns: list[MailboxPattern], subscribed: set[str], budget: Budget
) -> set[str]:
    """RFC 5258 §3.5 RECURSIVEMATCH: the parents of subscribed mailboxes that do not
    match a pattern themselves (those that do are listed on their own)."""
    hidden = {name for name in subscribed if not await _any_match(patterns, name, budget)}
    return _parents(hidden)


def _parents(names: set[str]) -> set[str]:
    return {SEP.join(n.split(SEP)[:i]) for n in names for i in range(1, n.count(SEP) + 1)}


def _list_order(name: str) -> tuple[int, str]:
    return (0 if name == "INBOX" else 1, name)


@dataclass(frozen=True, slots=True)
class _Names:
    """What LIST knows of the account's names, read once per command."""

    mailboxes: dict[str, Mailbox]
    subscribed: set[str]
    # a set looked up once per listed name, not a scan of every mailbox per name
    with_children: set[str]


def _attributes(s: Session, cmd: c.ListMailboxes, name: str, names: _Names) -> list[str] | None:
    """The attributes of one listed name, or None when the selection options exclude it."""
    mailbox = names.mailboxes.get(name)
    subscribed = names.subscribed
    has_children = name in names.with_children
    if cmd.lsub:
        return [] if name in subscribed else ["\\Noselect"]
    if "SPECIAL-USE" in cmd.select_opts and (mailbox is None or mailbox.special_use is None):
        return None
    attrs: list[str] = []
    if mailbox is None:
        if name in subscribed or not has_children:
            attrs.append("\\NonExistent")
        else:
            attrs.append("\\NonExistent" if s.rev2 or cmd.extended else "\\Noselect")
    if mailbox is not None or attrs == ["\\Noselect"] or not s.rev2:
        if "\\NonExistent" not in attrs or has_children:
            attrs.append("\\HasChildren" if has_children else "\\HasNoChildren")
    if mailbox is not None and mailbox.special_use:
        attrs.append(str(mailbox.special_use))
    if name in subscribed and ("SUBSCRIBED" in cmd.select_opts or "SUBSCRIBED" in cmd.return_opts):
        attrs.append("\\Subscribed")
    return attrs


# -- STATUS -------------------------------------------------------------------------


async def status(s: Session, cmd: c.Status) -> str:
    """RFC 9051 §6.3.11, with SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162) and
    MAILBOXID (RFC 8474 §4.2)."""
    mailbox = await mailbox_or_fail(s, cmd.mailbox)
    await _write_status(s, mailbox, cmd.items)
    return "STATUS completed"


async def _write_status(s: Session, mailbox: Mailbox, items: tuple[str, ...]) -> None:
    if s.view is not None and s.view.mailbox_id == mailbox.id and s.queue is not None:
        s.sync(allow_expunge=False)
    st = await s.ctx.store.mailboxes.mailbox_status(mailbox.id)
    recent = await _recent(s, st.mailbox) if "RECENT" in items else 0
    values = [
        f"MAILBOXID ({st.mailbox.objectid})"
        if item == "MAILBOXID"
        else f"{item} {_status_value(st, item, recent)}"
        for item in items
    ]
    line = b"STATUS " + wire_name(s, mailbox.name) + (" (" + " ".join(values) + ")").encode()
    s.conn.write(r.untagged(line))


async def _recent(s: Session, mailbox: Mailbox) -> int:
    """Messages no session has been told about yet (see imap/recent.py)."""
    if s.rev2:
        return 0
    store = s.ctx.store
    tracker = s.ctx.recent
    key = (mailbox.id, mailbox.uidvalidity)
    if tracker.settled(key, int(mailbox.uidnext)):
        return 0
    uids = (await store.mail.mailbox_index(mailbox.id)).uids
    await tracker.prime(store, key, uids)
    return len(tracker.unclaimed(key, uids))


def _status_value(st: MailboxStatus, item: str, recent: int) -> int:
    mailbox = st.mailbox
    return {
        "MESSAGES": st.messages,
        "RECENT": recent,
        "UIDNEXT": int(mailbox.uidnext),
        "UIDVALIDITY": mailbox.uidvalidity,
        "UNSEEN": st.unseen,
        "DELETED": st.deleted,
        "SIZE": st.size,
        "HIGHESTMODSEQ": int(mailbox.highestmodseq),
    }[item]


# -- QUOTA (RFC 9208) -----------------------------------------------------------------


async def _quota_line(s: Session) -> bytes:
    account: Account | None = await s.ctx.store.accounts.get_account_by_id(s.require_account().id)
    if account is None:
        raise No("Account gone", "UNAVAILABLE")
    if not account.quota_bytes:
        return b'QUOTA "" ()'
    used, limit = account.used_bytes // 1024, account.quota_bytes // 1024
    return f'QUOTA "" (STORAGE {used} {limit})'.encode()


async def getquota(s: Session, cmd: c.GetQuota) -> str:
    if cmd.root != QUOTA_ROOT:
        raise No("No such quota root", "NONEXISTENT")
    s.conn.write(r.untagged(await _quota_line(s)))
    return "GETQUOTA completed"


async def getquotaroot(s: Session, cmd: c.GetQuotaRoot) -> str:
    mailbox = await mailbox_or_fail(s, cmd.mailbox)
    s.conn.write(r.untagged(b"QUOTAROOT " + wire_name(s, mailbox.name) + b' ""'))
    s.conn.write(r.untagged(await _quota_line(s)))
    return "GETQUOTAROOT completed"


async def setquota(s: Session, cmd: c.SetQuota) -> str:
    """Quotas are the operator's: `postfach user add --quota`."""
    if cmd.root != QUOTA_ROOT:
        raise Bad("No such quota root")
    raise No("Quotas are set by the administrator", "NOPERM")
