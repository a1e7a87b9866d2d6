"""The POP3 maildrop: the Inbox plus the folders the account chose, as one list.

R11: POP3 serves the Inbox and, by setting (`Account.pop3_folders`), further
folders as one numbered list in arrival order (when each message entered its
folder; UID order within a folder). The list is fixed when the session enters
the TRANSACTION state (RFC 1939 §6: numbers do not change during a session).

UIDL (RFC 1939 §7) is "<mailbox id>.<uidvalidity>.<uid>": unique across the
account's folders and stable across sessions while a message stays where it is.

R12, R13: DELE only marks; `commit` (the UPDATE state at QUIT) then keeps,
moves to Trash or deletes the marked messages per `Account.pop3_delete`, and
adds \\Seen to retrieved messages when `Account.pop3_mark_read` is on. Nothing
here runs when the connection drops, so a dropped session changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from postfach.store.api import StoreApi, StoreError
from postfach.store.records import (
    Account,
    Mailbox,
    Pop3Delete,
    SpecialUse,
    StoredMessage,
    Uid,
)

__all__ = ["Entry", "Maildrop", "expire_days"]

log = logging.getLogger(__name__)

SEEN = frozenset({"\\Seen"})


@dataclass(slots=True)
class Entry:
    """One message of the maildrop, numbered from 1 by its position."""

    message: StoredMessage
    mailbox: Mailbox
    uidl: str
    deleted: bool = False
    retrieved: bool = False

    @property
    def size(self) -> int:
        return self.message.size


def maildrop_folders(account: Account, mailboxes: list[Mailbox]) -> list[Mailbox]:
    """INBOX first, then each chosen folder that exists, once (INBOX case-insensitive)."""
    wanted = ["INBOX", *account.pop3_folders]
    by_name = {("INBOX" if mb.name.upper() == "INBOX" else mb.name): mb for mb in mailboxes}
    chosen: list[Mailbox] = []
    for name in wanted:
        mailbox = by_name.get("INBOX" if name.upper() == "INBOX" else name)
        if mailbox is not None and mailbox not in chosen:
            chosen.append(mailbox)
    return chosen


def expire_days(folders: list[Mailbox], trash_days: float, spam_days: float) -> int | None:
    """RFC 2449 §6.7 EXPIRE: the fewest days a message may stay; None is NEVER (R14)."""
    days: list[float] = []
    for mailbox in folders:
        if mailbox.special_use == SpecialUse.TRASH:
            days.append(trash_days)
        elif mailbox.special_use == SpecialUse.JUNK:
            days.append(spam_days)
    return int(min(days)) if days else None


class Maildrop:
    """The numbered messages of one POP3 session and their DELE/RETR marks."""

    def __init__(self, folders: list[Mailbox], entries: list[Entry]) -> None:
        self.folders = folders
        self.entries = entries

    @classmethod
    async def load(cls, store: StoreApi, account: Account) -> Maildrop:
        folders = maildrop_folders(account, await store.mailboxes.list_mailboxes(account.id))
        entries: list[Entry] = []
        for mailbox in folders:
            messages = await _folder_messages(store, mailbox)
            prefix = f"{mailbox.id}.{mailbox.uidvalidity}."
            entries.extend(Entry(m, mailbox, prefix + str(m.uid)) for m in messages)
        if len(folders) > 1:
            position = {mailbox.id: i for i, mailbox in enumerate(folders)}
            entries.sort(
                key=lambda e: (e.message.entered_at, position[e.mailbox.id], e.message.uid)
            )
        return cls(folders, entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, msg: int) -> Entry | None:
        """The message numbered `msg`, or None when there is no such number."""
        if 1 <= msg <= len(self.entries):
            return self.entries[msg - 1]
        return None

    def live(self) -> Iterator[tuple[int, Entry]]:
        """(number, entry) for every message not marked deleted."""
        for number, entry in enumerate(self.entries, 1):
            if not entry.deleted:
                yield number, entry

    def stat(self) -> tuple[int, int]:
        count = size = 0
        for _, entry in self.live():
            count += 1
            size += entry.size
        return count, size

    def reset(self) -> None:
        """RFC 1939 §5 RSET: unmark every message marked deleted."""
        for entry in self.entries:
            entry.deleted = False

    async def commit(self, store: StoreApi, account: Account) -> bool:
        """RFC 1939 §6 UPDATE; returns False when some marked messages stayed."""
        complete = True
        for mailbox in self.folders:
            entries = [e for e in self.entries if e.mailbox.id == mailbox.id]
            try:
                if account.pop3_mark_read:
                    await _mark_seen(store, mailbox, entries)
                complete &= await _remove(store, account, mailbox, entries)
            except StoreError:
                log.exception("pop3: update of %s failed for %s", mailbox.name, account.address)
                complete = False
        return complete


async def _folder_messages(store: StoreApi, mailbox: Mailbox) -> list[StoredMessage]:
    """Every message of a folder in UID order, without the parsed structure."""
    return await store.mail.message_listing(mailbox.id)


async def _mark_seen(store: StoreApi, mailbox: Mailbox, entries: list[Entry]) -> None:
    uids = [e.message.uid for e in entries if e.retrieved and "\\Seen" not in e.message.flags]
    if uids:
        await store.mail.store_flags(mailbox.id, uids, "add", SEEN)


async def _remove(
    store: StoreApi, account: Account, mailbox: Mailbox, entries: list[Entry]
) -> bool:
    """R12: what DELE means at QUIT for one folder's marked messages."""
    uids: list[Uid] = [e.message.uid for e in entries if e.deleted]
    if not uids or account.pop3_delete == Pop3Delete.KEEP:
        return True
    if account.pop3_delete == Pop3Delete.EXPUNGE:
        await store.mail.delete_messages(mailbox.id, uids)
        return True
    if mailbox.special_use == SpecialUse.TRASH:
        return True  # already in Trash: kept, never lost
    trash = await store.mailboxes.special_mailbox(account.id, SpecialUse.TRASH)
    if trash is None:
        log.warning("pop3: %s has no Trash; DELE'd messages kept", account.address)
        return False
    await store.mail.move_messages(mailbox.id, uids, trash.id)
    return True
