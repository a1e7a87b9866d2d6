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

Only mailboxes of `MIN_MESSAGES` or more are kept, each for at most
`MAX_AGE` seconds, and one process (the context's `index_cache`) keeps the
indexes of at most `limits.imap_index_cache_messages` messages in all
(about `BYTES_PER_MESSAGE` each), the least recently selected going first:
however many accounts a worker serves, the cache stays within that size.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from postfach.store.records import Mailbox, MailboxId, MailboxIndex

__all__ = ["BYTES_PER_MESSAGE", "IndexCache"]

MIN_MESSAGES = 5000
MAX_AGE = 600.0
# What one message's entry holds (a UID, a MODSEQ, a pointer to a shared flag
# set), measured with tracemalloc: for the README's statement of the bound.
BYTES_PER_MESSAGE = 88

Key = tuple[int, int, int]


def _key(mailbox: Mailbox) -> Key:
    return (mailbox.uidvalidity, int(mailbox.uidnext), int(mailbox.highestmodseq))


class IndexCache:
    """An LRU of mailbox indexes bounded by the messages they hold in all."""

    def __init__(self, max_messages: int) -> None:
        self._max = max_messages  # 0: nothing is kept
        self._held = 0
        self._entries: OrderedDict[MailboxId, tuple[Key, float, MailboxIndex]] = OrderedDict()

    @property
    def messages(self) -> int:
        """The messages whose index is kept now (at most `max_messages`)."""
        return self._held

    def get(self, mailbox: Mailbox) -> MailboxIndex | None:
        """A private copy of the index, if the one kept is still exact for `mailbox`."""
        entry = self._entries.get(mailbox.id)
        if entry is None:
            return None
        key, stamp, index = entry
        if key != _key(mailbox) or time.monotonic() - stamp > MAX_AGE:
            self._drop(mailbox.id)
            return None
        self._entries.move_to_end(mailbox.id)
        return MailboxIndex(list(index.uids), list(index.modseqs), list(index.flags))

    def has(self, mailbox_id: MailboxId) -> bool:
        return mailbox_id in self._entries

    def put(self, mailbox: Mailbox, index: MailboxIndex) -> None:
        """Keeps a copy of `index`, read after the mailbox row `mailbox`."""
        self._drop(mailbox.id)
        if len(index) < MIN_MESSAGES or len(index) > self._max:
            return
        copy = MailboxIndex(list(index.uids), list(index.modseqs), list(index.flags))
        self._entries[mailbox.id] = (_key(mailbox), time.monotonic(), copy)
        self._held += len(copy)
        while self._held > self._max:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, mailbox_id: MailboxId) -> None:
        entry = self._entries.pop(mailbox_id, None)
        if entry is not None:
            self._held -= len(entry[2])
