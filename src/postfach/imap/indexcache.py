"""The index of recently selected big mailboxes, kept between SELECTs.

A mail program re-selects its INBOX over and over; for 100,000 messages
reading the (uid, modseq, flags) columns costs far more than the rest of
SELECT. Every change to a mailbox (append, flags, expunge, move, and so
UIDVALIDITY too) raises its HIGHESTMODSEQ in the same transaction, so an
index read while the mailbox row said (uidvalidity, uidnext, highestmodseq)
is still exact whenever the row says the same again: HIGHESTMODSEQ never
goes back. The entry is keyed by the row read *before* the index, so an
index that raced a commit can only be newer than its key, and then the key
never matches again.

Only mailboxes of `MIN_MESSAGES` or more are kept, at most `MAX_ENTRIES` per
process (the context's `index_cache`), each for at most `MAX_AGE` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from postfach.store.records import Mailbox, MailboxId, MailboxIndex

__all__ = ["IndexCache"]

MIN_MESSAGES = 5000
MAX_ENTRIES = 8
MAX_AGE = 600.0

Key = tuple[int, int, int]


def _key(mailbox: Mailbox) -> Key:
    return (mailbox.uidvalidity, int(mailbox.uidnext), int(mailbox.highestmodseq))


class IndexCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[MailboxId, tuple[Key, float, MailboxIndex]] = OrderedDict()

    def get(self, mailbox: Mailbox) -> MailboxIndex | None:
        """A private copy of the index, if the one kept is still exact for `mailbox`."""
        entry = self._entries.get(mailbox.id)
        if entry is None:
            return None
        key, stamp, index = entry
        if key != _key(mailbox) or time.monotonic() - stamp > MAX_AGE:
            del self._entries[mailbox.id]
            return None
        self._entries.move_to_end(mailbox.id)
        return MailboxIndex(list(index.uids), list(index.modseqs), list(index.flags))

    def has(self, mailbox_id: MailboxId) -> bool:
        return mailbox_id in self._entries

    def put(self, mailbox: Mailbox, index: MailboxIndex) -> None:
        """Keeps a copy of `index`, read after the mailbox row `mailbox`."""
        if len(index) < MIN_MESSAGES:
            self._entries.pop(mailbox.id, None)
            return
        copy = MailboxIndex(list(index.uids), list(index.modseqs), list(index.flags))
        self._entries[mailbox.id] = (_key(mailbox), time.monotonic(), copy)
        self._entries.move_to_end(mailbox.id)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
