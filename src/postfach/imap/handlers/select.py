"""SELECT/EXAMINE (with CONDSTORE and QRESYNC, RFC 7162 §3.2.5), CLOSE, UNSELECT,
CHECK and IDLE (RFC 2177).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import Bad, Bye
from postfach.imap.grammar import compact_uids
from postfach.imap.handlers.mailboxes import mailbox_or_fail, wire_name
from postfach.imap.indexcache import apply_changes
from postfach.imap.selected import SelectedView, select_flag_lines
from postfach.store.records import Mailbox, MailboxIndex, ModSeq

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["check", "close", "idle", "select", "unselect"]


async def select(s: Session, cmd: c.Select) -> str:
    """RFC 9051 §6.3.2-3. A failed SELECT leaves no mailbox selected."""
    if cmd.qresync is not None and not s.qresync:
        raise Bad("QRESYNC is not enabled")
    if s.view is not None:
        s.leave_selected()
        s.conn.write(r.untagged("OK [CLOSED] Previous mailbox closed"))
    if cmd.condstore:
        s.enable("CONDSTORE")
    mailbox = await mailbox_or_fail(s, cmd.mailbox)
    s.take_changes()  # committed before the index is read: already in it
    mailbox, index = await _index(s, mailbox)
    view = SelectedView.load(mailbox, index, cmd.readonly)
    if not s.rev2:
        tracker = s.ctx.recent
        await tracker.prime(s.ctx.store, view.recent_key, view.uids)
        view.start_recent(tracker, claims=not cmd.readonly)
    _write_select_data(s, view)
    s.conn.write(r.untagged(f"OK [MAILBOXID ({mailbox.objectid})] Ok"))
    s.conn.write(r.untagged("OK [URLMECH INTERNAL] Ok"))  # RFC 4467 §6.1
    if cmd.qresync is not None and cmd.qresync.uidvalidity == view.uidvalidity:
        await _qresync(s, view, cmd.qresync)
    s.enter_selected(view)
    mode = "READ-ONLY" if cmd.readonly else "READ-WRITE"
    return f"[{mode}] {'EXAMINE' if cmd.readonly else 'SELECT'} completed"


async def _index(s: Session, mailbox: Mailbox) -> tuple[Mailbox, MailboxIndex]:
    """The mailbox's index: kept from an earlier SELECT in this process and
    brought up to date with the changes since (imap/indexcache.py), else read
    from the store."""
    store = s.ctx.store
    cache = s.ctx.index_cache
    if cache.has(mailbox.id):
        fresh = await store.mailboxes.get_mailbox_by_id(mailbox.id)  # read after take_changes
        kept = cache.get(fresh) if fresh is not None else None
        if fresh is not None and kept is not None:
            mailbox = fresh
            since, index = kept
            if since >= mailbox.highestmodseq:
                return mailbox, index
            changes = await store.mail.changes_since(mailbox.id, since)
            if changes is not None:
                index = apply_changes(index, changes)
                cache.put(mailbox, changes.highestmodseq, index)
                return mailbox, index
    index = await store.mail.mailbox_index(mailbox.id)
    cache.put(mailbox, mailbox.highestmodseq, index)  # the row read before the index
    return mailbox, index


def _write_select_data(s: Session, view: SelectedView) -> None:
    write = s.conn.write
    for line in select_flag_lines(view.keywords(), view.readonly):
        write(line)
    write(r.untagged(f"{len(view)} EXISTS"))
    if not s.rev2:
        write(r.untagged(f"{len(view.recent)} RECENT"))
        unseen = next((i for i, f in enumerate(view.flags) if "\\Seen" not in f), None)
        if unseen is not None:
            write(r.untagged(f"OK [UNSEEN {unseen + 1}] First unseen"))
    write(r.untagged(f"OK [UIDVALIDITY {view.uidvalidity}] UIDs valid"))
    write(r.untagged(f"OK [UIDNEXT {view.uidnext}] Predicted next UID"))
    write(r.untagged(f"OK [HIGHESTMODSEQ {view.highestmodseq}] Highest"))
    if s.rev2:
        write(r.untagged(b'LIST () "/" ' + wire_name(s, view.name)))


async def _qresync(s: Session, view: SelectedView, params: c.QresyncParams) -> None:
    """RFC 7162 §3.2.5.1: VANISHED (EARLIER) for expunged UIDs, then FETCH for changed flags."""
    store = s.ctx.store
    gone = await store.mail.expunged_since(view.mailbox_id, ModSeq(params.modseq))
    if params.known_uids is not None and gone:
        known = params.known_uids
        top = max(gone)
        gone = [u for u in gone if known.contains_uid(int(u), top)]
    if gone:
        s.conn.write(
            r.untagged(b"VANISHED (EARLIER) " + compact_uids(int(u) for u in gone).encode())
        )
    for meta in await store.mail.changed_since(view.mailbox_id, ModSeq(params.modseq)):
        i = view.index_of(int(meta.uid))
        if i is None:
            continue
        line = b"%d FETCH (UID %d FLAGS %s MODSEQ (%d))" % (
            i + 1,
            view.uids[i],
            view.flag_bytes(i),
            view.modseqs[i],
        )
        s.conn.write(r.untagged(line))


async def close(s: Session, cmd: c.Close) -> str:
    """RFC 9051 §6.4.1: expunge silently (read-write only), then leave the selected state."""
    view = s.selected()
    if not view.readonly:
        await s.ctx.store.mail.expunge(view.mailbox_id)
    s.leave_selected()
    s.take_changes()
    return "CLOSE completed"


async def unselect(s: Session, cmd: c.Unselect) -> str:
    """RFC 3691 / RFC 9051 §6.4.2."""
    s.selected()
    s.leave_selected()
    return "UNSELECT completed"


async def check(s: Session, cmd: c.Check) -> str:
    s.selected()
    return "CHECK completed"


async def idle(s: Session, cmd: c.Idle) -> str:
    """RFC 2177: `+ idling`, then changes as they happen, until the client sends DONE."""
    s.conn.write(b"+ idling\r\n")
    s.sync(allow_expunge=True)
    await s.refresh_contexts()
    await s.conn.flush()
    reader = asyncio.ensure_future(s.conn.read_line())
    try:
        while True:
            if s.queue is None:
                await reader
                break
            getter = asyncio.ensure_future(s.queue.get())
            finished, _ = await asyncio.wait(
                {reader, getter},
                timeout=s.limits.idle_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter in finished:
                s.add_pending(getter.result())
                if s.notifying is not None:  # RFC 5465 §4: the events NOTIFY set
                    await s.notify_now()
                else:
                    await s.refresh()
                await s.refresh_contexts()
                await s.conn.flush()
            else:
                getter.cancel()
            if reader in finished:
                break
            if not finished:
                raise Bye(r.AUTOLOGOUT)
        line = reader.result().strip()
    finally:
        if not reader.done():
            reader.cancel()
    if line.upper() != b"DONE":
        raise Bad("Expected DONE")
    return "IDLE terminated"
