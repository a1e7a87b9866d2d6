"""APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502), CATENATE (RFC 4469) and
APPENDUID (RFC 4315)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap.errors import No
from postfach.imap.grammar import compact_uids
from postfach.imap.handlers.catenate import catenated
from postfach.imap.handlers.mailboxes import mailbox_or_fail
from postfach.message.binary import base64_binary_parts
from postfach.store.api import OverQuota, StoreError
from postfach.store.records import MailboxId, Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["append"]

log = logging.getLogger(__name__)


async def append(s: Session, cmd: c.Append) -> str:
    """Stores every message or none: a failure removes those already stored."""
    mailbox = await mailbox_or_fail(s, cmd.mailbox, trycreate=True)
    limit = s.limits.max_message_size
    messages = [await catenated(s, m) for m in cmd.messages]  # RFC 4469 parts joined
    for message in messages:
        if len(message.data) > limit:
            raise No("Message too big", "TOOBIG")
        if not message.data:
            raise No("Empty message", "CANNOT")
    store = s.ctx.store
    uids: list[Uid] = []
    uidvalidity = mailbox.uidvalidity
    view = s.view if s.view is not None and s.view.mailbox_id == mailbox.id else None
    try:
        for message in messages:
            flags = frozenset(f for f in message.flags if f != "\\Recent")
            if view is not None:
                flags = frozenset(view.canonical_flag(f) for f in flags)
            # RFC 3516 §4.4: binary parts are stored base64-encoded, as Dovecot does,
            # so that BODY[] never needs NUL in a plain literal
            data = base64_binary_parts(message.data) if message.binary else message.data
            uid, uidvalidity = await store.mail.append(mailbox.id, data, flags, message.date)
            uids.append(uid)
    except OverQuota:
        await _undo(s, mailbox.id, uids)
        raise No("Quota exceeded", "OVERQUOTA") from None
    except BaseException:
        await _undo(s, mailbox.id, uids)
        raise
    return f"[APPENDUID {uidvalidity} {compact_uids(int(u) for u in uids)}] APPEND completed"


async def _undo(s: Session, mailbox_id: MailboxId, uids: list[Uid]) -> None:
    """Removes what a failed MULTIAPPEND stored; a store that fails again (it
    is down or full) must not hide the first error, which the client gets."""
    if not uids:
        return
    try:
        await s.ctx.store.mail.delete_messages(mailbox_id, uids)
    except StoreError as exc:
        log.warning("imap: undoing a failed APPEND failed too: %s", exc)
