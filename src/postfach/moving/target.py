"""Where imports land: an account's folders, written as APPEND writes.

Messages go through the store's mail role (`store.mail.add_messages`), a batch
per transaction, with their flags and internal date; the quota is the mail
role's to enforce, and a message over it stops the import with a clear error.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from postfach.moving.folders import DEFAULT_NAMES
from postfach.store.api import AlreadyExists, OverQuota, StoreApi, StoreError
from postfach.store.blobs import prepare_blob
from postfach.store.records import Account, Mailbox, NewMessage, Uid

__all__ = ["ImportFailed", "Item", "Target", "fingerprint"]


class ImportFailed(Exception):
    """An import cannot go on (over quota, the source went away); one line for the user."""


@dataclass(frozen=True, slots=True)
class Item:
    """One message to store: its bytes exactly, flags and internal date (Unix time)."""

    raw: bytes
    flags: frozenset[str]
    internaldate: float | None


def fingerprint(sha256: str, internaldate: float | None) -> tuple[str, int]:
    """What makes two copies of a message the same: content and (whole-second) date."""
    return sha256, int(internaldate or 0)


class Target:
    """One account of the store, its folders looked up or made as needed."""

    def __init__(self, store: StoreApi, account: Account) -> None:
        self.store = store
        self.account = account
        self._mailboxes: dict[str, Mailbox] = {}

    @classmethod
    async def of(cls, store: StoreApi, address: str) -> Target:
        account = await store.accounts.get_account(address)
        if account is None:
            raise ImportFailed(f"no account {address}")
        return cls(store, account)

    async def folder(self, name: str | None, special_use: str | None) -> Mailbox:
        """Our folder for `special_use` (made when missing), else the one named `name`."""
        key = special_use or name or "INBOX"
        if key in self._mailboxes:
            return self._mailboxes[key]
        account_id = self.account.id
        mailbox = None
        if special_use is not None:
            mailbox = await self.store.mailboxes.special_mailbox(account_id, special_use)
            name = name or DEFAULT_NAMES[special_use]
        assert name is not None
        if mailbox is None:
            mailbox = await self._get_or_create(name, special_use)
        self._mailboxes[key] = mailbox
        return mailbox

    async def _get_or_create(self, name: str, special_use: str | None) -> Mailbox:
        account_id = self.account.id
        parts = name.split("/")
        for depth in range(1, len(parts)):  # parents first, as CREATE makes them
            parent = "/".join(parts[:depth])
            if await self.store.mailboxes.get_mailbox(account_id, parent) is None:
                try:
                    await self.store.mailboxes.create_mailbox(account_id, parent)
                except AlreadyExists:
                    pass
        existing = await self.store.mailboxes.get_mailbox(account_id, name)
        if existing is not None:
            return existing
        try:
            return await self.store.mailboxes.create_mailbox(account_id, name, special_use)
        except AlreadyExists:
            mailbox = await self.store.mailboxes.get_mailbox(account_id, name)
            assert mailbox is not None
            return mailbox

    async def present(self, mailbox: Mailbox) -> Counter[tuple[str, int]]:
        """Fingerprints of what the folder holds: the fallback when the imports
        role does not know a source message (a run killed between storing a
        batch and noting it, or mail that came another way)."""
        listing = await self.store.mail.message_listing(mailbox.id)
        return Counter(fingerprint(m.blob_sha256, m.internaldate) for m in listing if not m.prefix)

    async def add(self, mailbox: Mailbox, items: Sequence[Item]) -> list[Uid]:
        """Stores a batch in one transaction; over quota stops the import."""
        batch = [
            NewMessage(
                mailbox.id,
                prepare_blob(item.raw),
                b"",
                frozenset(f for f in item.flags if f != "\\Recent"),
                item.internaldate,
            )
            for item in items
        ]
        results = await self.store.mail.add_messages(batch)
        uids: list[Uid] = []
        for result in results:
            if isinstance(result, OverQuota):
                raise ImportFailed(f"{self.account.address} is over its quota; import stopped")
            if isinstance(result, StoreError):
                raise result
            uids.append(result)
        return uids


def content_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
