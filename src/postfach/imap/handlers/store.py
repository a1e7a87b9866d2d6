"""STORE (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE), COPY/MOVE (RFC 6851, RFC 4315
COPYUID) and EXPUNGE / UID EXPUNGE (RFC 4315).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.grammar import compact_uids
from postfach.imap.handlers.common import resolve
from postfach.imap.handlers.mailboxes import mailbox_or_fail
from postfach.imap.selected import SelectedView
from postfach.spam.training import learn_from_filing
from postfach.store.records import Mailbox, ModSeq, SpecialUse, Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["copy", "expunge", "store"]

READ_ONLY = "Mailbox is read-only"


async def store(s: Session, cmd: c.Store) -> str:
    view = s.selected()
    if view.readonly:
        raise No(READ_ONLY, "READ-ONLY")
    indexes = resolve(s, view, cmd.seqset, cmd.uid)
    if cmd.unchangedsince is not None:
        s.enable("CONDSTORE")
    mode: Literal["add", "remove", "replace"] = (
        "add" if cmd.mode == "add" else "remove" if cmd.mode == "remove" else "replace"
    )
    uids = [Uid(view.uids[i]) for i in indexes]
    unchanged = ModSeq(cmd.unchangedsince) if cmd.unchangedsince is not None else None
    changed, failed = await s.ctx.store.mail.store_flags(
        view.mailbox_id, uids, mode, _spelled(view, cmd.flags, mode), unchanged
    )
    view.own_flags(changed)
    for line in view.keyword_lines():  # a new keyword: FLAGS before the FETCH showing it
        s.conn.write(line)
    changed_uids = {int(m.uid) for m in changed}
    failed_uids = {int(u) for u in failed}
    for i in indexes:
        uid = view.uids[i]
        if uid in failed_uids:
            continue
        if cmd.silent and not (s.condstore and uid in changed_uids):
            continue
        _write_flags(s, view, i, cmd.uid, silent=cmd.silent)
    if failed_uids:
        numbers = (
            failed_uids if cmd.uid else {i + 1 for i in indexes if view.uids[i] in failed_uids}
        )
        return f"[MODIFIED {compact_uids(numbers)}] Conditional STORE failed"
    return "STORE completed"


def _spelled(view: SelectedView, flags: frozenset[str], mode: str) -> frozenset[str]:
    """Keywords are case-insensitive (RFC 3501 §9): store the spelling the mailbox
    already uses; removing takes away every spelling."""
    if mode == "remove":
        return frozenset(v for f in flags for v in view.variants(f))
    return frozenset(view.canonical_flag(f) for f in flags)


def _write_flags(s: Session, view: SelectedView, i: int, uid: bool, silent: bool) -> None:
    parts = []
    if uid or s.qresync:
        parts.append(b"UID %d" % view.uids[i])
    if not silent:
        parts.append(b"FLAGS " + view.flag_bytes(i))
    if s.condstore:
        parts.append(b"MODSEQ (%d)" % view.modseqs[i])
    s.conn.write(b"* %d FETCH (%s)\r\n" % (i + 1, b" ".join(parts)))


async def copy(s: Session, cmd: c.Copy) -> str:
    """COPY and MOVE: `[COPYUID v src dst]`; MOVE then announces the expunges itself."""
    view = s.selected()
    verb = "MOVE" if cmd.move else "COPY"
    if cmd.move and view.readonly:
        raise No(READ_ONLY, "READ-ONLY")
    indexes = resolve(s, view, cmd.seqset, cmd.uid)
    target = await mailbox_or_fail(s, cmd.mailbox, trycreate=True)
    uids = [Uid(view.uids[i]) for i in indexes]
    if not uids:
        return f"{verb} completed"
    store = s.ctx.store
    if cmd.move:
        pairs = await store.mail.move_messages(view.mailbox_id, uids, target.id)
    else:
        pairs = await store.mail.copy_messages(view.mailbox_id, uids, target.id)
    pairs.sort()
    await _learn(s, view, target, [b for _, b in pairs])
    code = ""
    if pairs:
        src = compact_uids(int(a) for a, _ in pairs)
        dst = compact_uids(int(b) for _, b in pairs)
        code = f"[COPYUID {target.uidvalidity} {src} {dst}] "
    if not cmd.move:
        return f"{code}{verb} completed"
    if code:
        s.conn.write(r.untagged(f"OK {code}Moved"))
    announce_expunged(s, view, [int(a) for a, _ in pairs])
    return f"{verb} completed"


async def _learn(s: Session, view: SelectedView, target: Mailbox, new_uids: list[Uid]) -> None:
    """Into Spam or out of it: the spam classifier learns (spam/training.py)."""
    if not new_uids or _teaches_nothing(view, target):
        return
    source = await s.ctx.store.mailboxes.get_mailbox_by_id(view.mailbox_id)
    if source is not None:
        await learn_from_filing(s.ctx.spam, s.ctx.store, source, target, new_uids)


def _teaches_nothing(view: SelectedView, target: Mailbox) -> bool:
    """Neither side is Spam: the common move costs no look-up."""
    return target.special_use is not SpecialUse.JUNK and not view.junk


def announce_expunged(s: Session, view: SelectedView, uids: list[int]) -> None:
    """EXPUNGE (or VANISHED) for messages this command removed, leaving others' pending."""
    others = view.pending_expunge - set(uids)
    view.pending_expunge = set(uids)
    for line in s.contexts.expunging(view):  # RFC 5267 REMOVEFROM before the EXPUNGEs
        s.conn.write(line)
    for line in view.flush(True, s.qresync, s.condstore):
        s.conn.write(line)
    view.pending_expunge = {u for u in others if view.index_of(u) is not None}


async def expunge(s: Session, cmd: c.Expunge) -> str:
    """RFC 9051 §6.4.3 and UID EXPUNGE (RFC 4315 §2.1)."""
    view = s.selected()
    if view.readonly:
        raise No(READ_ONLY, "READ-ONLY")
    if cmd.uids is not None:
        targets = [Uid(view.uids[i]) for i in resolve(s, view, cmd.uids, True)]
        gone = await s.ctx.store.mail.expunge(view.mailbox_id, targets) if targets else []
    else:
        gone = await s.ctx.store.mail.expunge(view.mailbox_id)
    announce_expunged(s, view, [int(u) for u in gone])
    return "EXPUNGE completed"
