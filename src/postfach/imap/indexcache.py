"""The index of recently selected mailboxes, kept between SELECTs and brought up
to date from the changes since.

A mail program re-selects its INBOX over and over, and the phone, the laptop
and the webmail of one user select the same INBOX; reading the (uid, modseq,
flags) columns of every message costs more than the rest of SELECT. Every
change to a mailbox (append, flags, expunge, move) raises its HIGHESTMODSEQ
and gives the messages it touched that MODSEQ (expunged UIDs too, in their own
table, for QRESYNC), so an index that holds every change up to MODSEQ M is
made exact by applying the changes since M, as a session catches up
(`apply_changes`): new and changed messages take their row as it is now,
expunged ones go. Replaying a change the index already holds changes nothing,
so an index read after the mailbox row may be kept under that row's
HIGHESTMODSEQ although it may be newer. A new UIDVALIDITY drops the entry.

Only mailboxes of `MIN_MESSAGES` or more are kept (below, one read is as cheap
as the look-ups), each for at most `MAX_AGE` seconds, and one process (the
context's `index_cache`) keeps the indexes of at most
`limits.imap_index_cache_messages` messages in all (about `BYTES_PER_MESSAGE`
each), the least recently selected going first: however many accounts a
worker serves, the cache stays within that size.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import OrderedDict

from postfach.store.records import Mailbox, MailboxChanges, MailboxId, MailboxIndex, ModSeq

__all__ = ["BYTES_PER_MESSAGE", "IndexCache", "apply_changes"]

MIN_MESSAGES = 256
MAX_AGE = 600.0
# What one message's entry holds (a UID, a MODSEQ, a pointer to a shared flag
# set), measured with tracemalloc: for the README's statement of the bound.
BYTES_PER_MESSAGE = 88
# More expunged UIDs than this are taken out in one pass over the index.
_EXPUNGED_ONE_BY_ONE = 16


def _copy(index: MailboxIndex) -> MailboxIndex:
    return MailboxIndex(list(index.uids), list(index.modseqs), list(index.flags))


def apply_changes(index: MailboxIndex, changes: MailboxChanges) -> MailboxIndex:
    """`index` (the caller's own: it is changed) with `changes` applied."""
    uids, modseqs, flags = index.uids, index.modseqs, index.flags
    gone = changes.expunged
    if len(gone) > _EXPUNGED_ONE_BY_ONE:
        dropped = set(gone)
        kept = [i for i, uid in enumerate(uids) if uid not in dropped]
        uids = [uids[i] for i in kept]
        modseqs = [modseqs[i] for i in kept]
        flags = [flags[i] for i in kept]
    else:
        for gone_uid in gone:
            at = bisect_left(uids, gone_uid)
            if at < len(uids) and uids[at] == gone_uid:
                del uids[at], modseqs[at], flags[at]
    for meta in changes.changed:  # in UID order; new messages come last
        uid = int(meta.uid)
        if not uids or uid > uids[-1]:
            uids.append(uid)
            modseqs.append(int(meta.modseq))
            flags.append(meta.flags)
            continue
        at = bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            modseqs[at], flags[at] = int(meta.modseq), meta.flags
        else:
            uids.insert(at, uid)
            modseqs.insert(at, int(meta.modseq))
            flags.insert(at, meta.flags)
    return MailboxIndex(uids, modseqs, flags)


Entry = tuple[int, ModSeq, float, MailboxIndex]  # UIDVALIDITY, exact up to, kept at, index


class IndexCache:
    """An LRU of mailbox indexes bounded by the messages they hold in all."""

    def __init__(self, max_messages: int) -> None:
        self._max = max_messages  # 0: nothing is kept
        self._held = 0
        self._entries: OrderedDict[MailboxId, Entry] = OrderedDict()

    @property
    def messages(self) -> int:
        """The messages whose index is kept now (at most `max_messages`)."""
        return self._held

    def get(self, mailbox: Mailbox) -> tuple[ModSeq, MailboxIndex] | None:
        """A private copy of the kept index of `mailbox` and the MODSEQ up to which
        it holds every change, unless the mailbox has a new UIDVALIDITY or the
        entry is too old."""
        entry = self._entries.get(mailbox.id)
        if entry is None:
            return None
        uidvalidity, modseq, stamp, index = entry
        if uidvalidity != mailbox.uidvalidity or time.monotonic() - stamp > MAX_AGE:
            self._drop(mailbox.id)
            return None
        self._entries.move_to_end(mailbox.id)
        return modseq, _copy(index)

    def has(self, mailbox_id: MailboxId) -> bool:
        return mailbox_id in self._entries

    def put(self, mailbox: Mailbox, modseq: ModSeq, index: MailboxIndex) -> None:
        """Keeps a copy of `index`, which holds every change of `mailbox` up to
        `modseq` (and perhaps later ones)."""
        stamp = time.monotonic()
        kept = self._entries.get(mailbox.id)
        if kept is not None and kept[0] == mailbox.uidvalidity:
            stamp = kept[2]  # brought up to date, not read anew: MAX_AGE still counts
        self._drop(mailbox.id)
        if len(index) < MIN_MESSAGES or len(index) > self._max:
            return
        self._entries[mailbox.id] = (mailbox.uidvalidity, modseq, stamp, _copy(index))
        self._held += len(index)
        while self._held > self._max:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, mailbox_id: MailboxId) -> None:
        entry = self._entries.pop(mailbox_id, None)
        if entry is not None:
            self._held -= len(entry[3])
