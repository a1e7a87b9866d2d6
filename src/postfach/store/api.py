"""The narrow async API every protocol uses; only `store/` speaks SQL.

`postfach.store.Store` implements this Protocol on SQLAlchemy Core for SQLite
and PostgreSQL. Methods take and return records (store/records.py). Mutations
commit, then publish `Change` values on `store.hub`.

Errors: `StoreError` subclasses below; protocol layers map them to wire replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from postfach.store.events import Hub
from postfach.store.records import (
    Account,
    AccountId,
    Alias,
    AppPassword,
    Domain,
    Mailbox,
    MailboxId,
    MailboxIndex,
    MailboxStatus,
    MessageMeta,
    ModSeq,
    StoredMessage,
    Uid,
)

if TYPE_CHECKING:  # runtime.py raises this module's errors (store/faults.py)
    from postfach.store.runtime import RuntimeState

__all__ = [
    "AlreadyExists",
    "FlagMode",
    "NotFound",
    "OverQuota",
    "StoreApi",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
]

FlagMode = Literal["add", "remove", "replace"]


class StoreError(Exception):
    """Base of the errors the store raises on purpose."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class OverQuota(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The database cannot be reached or used right now (store/faults.py)."""


class StoreFull(StoreError):
    """The database cannot grow: its disk is full (store/faults.py)."""


class StoreApi(Protocol):
    hub: Hub
    dialect: str  # "sqlite" or "postgresql"
    runtime: RuntimeState | None  # shared by the workers of `serve --workers N`

    async def close(self) -> None: ...

    # -- domains -------------------------------------------------------------
    async def add_domain(
        self, name: str, dkim_selector: str = "", dkim_key: str = ""
    ) -> Domain: ...
    async def get_domain(self, name: str) -> Domain | None: ...
    async def list_domains(self) -> list[Domain]: ...
    async def remove_domain(self, name: str) -> None: ...

    # -- accounts ------------------------------------------------------------
    async def add_account(self, address: str, password_hash: str, quota_bytes: int = 0) -> Account:
        """Creates the account and its standard folders (INBOX, Sent, Drafts, Spam, Trash)."""
        ...

    async def get_account(self, address: str) -> Account | None: ...
    async def get_account_by_id(self, account_id: AccountId) -> Account | None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def remove_account(self, address: str) -> None: ...
    async def set_password_hash(self, account_id: AccountId, password_hash: str) -> None:
        """Publishes ChangeCredentials(logout=False)."""
        ...

    async def update_account(self, account_id: AccountId, **settings: object) -> Account:
        """Settings: quota_bytes, imap_enabled, pop3_enabled, pop3_folders (tuple),
        pop3_mark_read, pop3_delete (Pop3Delete), save_sent."""
        ...

    async def bump_credentials(self, account_id: AccountId) -> int:
        """Log out everywhere: new generation, web sessions dropped, ChangeCredentials published."""
        ...

    # -- aliases -------------------------------------------------------------
    async def add_alias(self, address: str, target: str) -> Alias: ...
    async def list_aliases(self) -> list[Alias]: ...
    async def remove_alias(self, address: str) -> None: ...
    async def aliases_for(self, account_id: AccountId) -> list[str]:
        """Alias addresses that resolve to this account (sender ownership, R18)."""
        ...

    async def resolve(self, address: str) -> list[Account]:
        """The accounts mail to `address` reaches: the account itself, or an alias's targets."""
        ...

    # -- app passwords -------------------------------------------------------
    async def add_app_password(
        self, account_id: AccountId, name: str, password_hash: str
    ) -> AppPassword: ...
    async def list_app_passwords(self, account_id: AccountId) -> list[AppPassword]: ...
    async def revoke_app_password(self, account_id: AccountId, name: str) -> None: ...

    # -- mailboxes -----------------------------------------------------------
    async def list_mailboxes(self, account_id: AccountId) -> list[Mailbox]: ...
    async def get_mailbox(self, account_id: AccountId, name: str) -> Mailbox | None:
        """`name` is matched exactly, except that INBOX is case-insensitive."""
        ...

    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> Mailbox | None: ...
    async def special_mailbox(self, account_id: AccountId, special_use: str) -> Mailbox | None: ...
    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> Mailbox: ...
    async def delete_mailbox(self, account_id: AccountId, name: str) -> None: ...
    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> None:
        """Renames children too. Renaming INBOX moves its messages to `new`;
        INBOX stays, empty."""
        ...

    async def subscriptions(self, account_id: AccountId) -> set[str]: ...
    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None: ...
    async def mailbox_status(self, mailbox_id: MailboxId) -> MailboxStatus: ...

    # -- messages ------------------------------------------------------------
    async def append(
        self,
        mailbox_id: MailboxId,
        raw: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: float | None = None,
    ) -> tuple[Uid, int]:
        """Stores one message; returns (uid, uidvalidity). Raises OverQuota."""
        ...

    async def message_index(self, mailbox_id: MailboxId) -> list[MessageMeta]:
        """Every message of the mailbox in UID order: what SELECT needs."""
        ...

    async def mailbox_index(self, mailbox_id: MailboxId) -> MailboxIndex:
        """The same as columns (uids, modseqs, shared flag sets), for large mailboxes."""
        ...

    async def changed_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[MessageMeta]: ...
    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[Uid]: ...
    async def get_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[StoredMessage]:
        """Metadata for FETCH, in UID order; unknown UIDs are left out."""
        ...

    async def read_raw(self, message: StoredMessage) -> bytes:
        """prefix + blob: the message exactly as it will be served."""
        ...

    async def message_listing(self, mailbox_id: MailboxId) -> list[StoredMessage]:
        """Every message in UID order with `parsed` left empty (POP3's maildrop)."""
        ...

    async def read_raws(self, batch: Sequence[StoredMessage]) -> dict[int, bytes]:
        """{StoredMessage.id: prefix + blob} for many messages in one go."""
        ...

    async def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """{sha256: blob} for many blobs in one go; gone blobs are left out."""
        ...

    async def read_blob(self, blob_sha256: str) -> bytes: ...
    async def store_flags(
        self,
        mailbox_id: MailboxId,
        uids: Sequence[Uid],
        mode: FlagMode,
        flags: frozenset[str],
        unchanged_since: ModSeq | None = None,
    ) -> tuple[list[MessageMeta], list[Uid]]:
        """Returns (the messages whose flags changed, with new modseq; UIDs that failed
        UNCHANGEDSINCE). Messages whose flags would not change are left untouched."""
        ...

    async def copy_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]:
        """(source uid, new uid) pairs; raises OverQuota."""
        ...

    async def move_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]: ...
    async def expunge(self, mailbox_id: MailboxId, uids: Sequence[Uid] | None = None) -> list[Uid]:
        """Removes messages flagged \\Deleted (only those in `uids` when given)."""
        ...

    async def delete_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[Uid]:
        """Removes the messages whatever their flags (POP3 expunge, retention)."""
        ...

    async def search_text(self, mailbox_id: MailboxId, needle: str, where: str) -> set[Uid]:
        """UIDs whose `where` ("text", "body", "from", "subject", "to", "cc", "bcc")
        contains needle, case-insensitively, in the text extracted at delivery."""
        ...

    async def search_account(
        self, account_id: AccountId, query: str, limit: int = 200
    ) -> list[tuple[Mailbox, StoredMessage]]:
        """Webmail search across all folders: sender, subject and body words (R16)."""
        ...

    async def purge_retention(
        self, trash_days: float, spam_days: float, now: float | None = None
    ) -> int: ...

    # -- locks (POP3 maildrop, across nodes) ---------------------------------
    async def try_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    async def refresh_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    async def unlock(self, name: str, owner: str) -> None: ...
