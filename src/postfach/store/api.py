"""The store's contract, role by role; only `store/` speaks SQL.

`postfach.store.Store` implements `StoreApi` on SQLAlchemy Core for SQLite and
PostgreSQL: one object holding one role per part of the data, each with its
Protocol below and its tables (store/schema.py, created and migrated by
`migrate`):

- `store.accounts` (`AccountsApi`): domains, accounts, aliases, app passwords.
- `store.mailboxes` (`MailboxesApi`): an account's folders and subscriptions.
- `store.mail` (`MailApi`): messages: add, read, flags, copy/move, expunge, search.
- `store.queue` (`QueueApi`): the outbound queue.
- `store.web`, `store.signin`, `store.urlauth` (`WebSessionsApi`, `SigninApi`,
  `UrlauthApi`, in access_api.py): browser sessions and admin tokens, two-factor
  sign-in and the mail programs seen, URLAUTH keys.
- `store.mailing` (`MailingApi`, in mailing_api.py): bulk mailing's relays, lists,
  campaigns, sends.
- `store.greylist` (`GreylistApi`): triplets seen by the MX's greylisting.
- `store.tls_files` (`TlsFilesApi`): certificates and ACME answers all nodes need.
- `store.imports` (`ImportsApi`): which source messages an import copied already.
- `store.locks` (`LocksApi`): named leases across processes and nodes.
- `store.spam` (`SpamApi`, in spam_api.py): per-account spam thresholds, sender
  lists, classifier counts.
- `store.sieve` (`SieveApi`, in sieve_api.py): Sieve scripts, vacation replies
  sent, redirect counts.
- `store.runtime` (`RuntimeApi`): the state the workers of `serve --workers N` share.
- `store.hub` (`HubApi`): the change hub sessions watch.

Methods take and return records (store/records.py, store/queue.py,
store/web.py, store/mailing_records.py). Mutations commit, then publish
`Change` values on `store.hub`.

Errors: `StoreError` subclasses below; protocol layers map them to wire replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from postfach.store.access_api import SigninApi, UrlauthApi, WebSessionsApi
from postfach.store.errors import (
    AlreadyExists,
    FlagMode,
    NotFound,
    OverQuota,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from postfach.store.events import Change
from postfach.store.mailing_api import MailingApi
from postfach.store.queue_records import (
    NewQueueRecipient,
    QueueAttempt,
    QueueEntry,
    QueueItem,
    QueueMessage,
)
from postfach.store.records import (
    Account,
    AccountId,
    Alias,
    AppPassword,
    Domain,
    ImportJob,
    Mailbox,
    MailboxChanges,
    MailboxId,
    MailboxIndex,
    MailboxStatus,
    MessageMeta,
    ModSeq,
    NewMessage,
    StoredMessage,
    Uid,
)
from postfach.store.sieve_api import SieveApi
from postfach.store.spam_api import SpamApi

if TYPE_CHECKING:  # only its type: the runtime file is opened by the store
    from postfach.store.runtime import RuntimeState

__all__ = [
    "AccountsApi",
    "SigninApi",
    "AlreadyExists",
    "FlagMode",
    "GreylistApi",
    "TlsFilesApi",
    "HubApi",
    "ImportsApi",
    "LocksApi",
    "MailApi",
    "MailboxesApi",
    "MailingApi",
    "NotFound",
    "OverQuota",
    "QueueApi",
    "RuntimeApi",
    "SieveApi",
    "SpamApi",
    "StoreApi",
    "UrlauthApi",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "WebSessionsApi",
]


class HubApi(Protocol):
    """Changes, published after commit, to the sessions that watch an account."""

    def watch(self, account_id: AccountId) -> AbstractContextManager[asyncio.Queue[Change]]:
        """A queue of the account's changes, for as long as the block runs."""

    def publish(self, account_id: AccountId, changes: list[Change]) -> None:
        """Called after commit: this process's sessions, then the other nodes."""

    def watching(self, account_id: AccountId) -> int: ...


class RuntimeApi(Protocol):
    """State the workers of `serve --workers N` share on one machine (store/runtime.py)."""

    def recent_high(self, mailbox_id: int, uidvalidity: int) -> int | None: ...
    def recent_prime(self, mailbox_id: int, uidvalidity: int, high: int) -> None:
        """Sets the first mark of a mailbox unless another worker was first."""
    def recent_claim(self, mailbox_id: int, uidvalidity: int, uid: int) -> bool:
        """Raises the mark to `uid`; True when it was below (this caller claimed it)."""
    def connection_opened(self, listener: str, ip: str, limit: int) -> bool:
        """Counts a connection in unless `ip` has `limit` open on `listener` already."""
    def connection_closed(self, listener: str, ip: str) -> None: ...
    def try_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    def refresh_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    def unlock(self, name: str, owner: str) -> None: ...
    def auth_failures(self, key: str, since: float) -> list[float]:
        """Times of `key`'s failures since `since`, oldest first."""
    def auth_fail(self, key: str, at: float, keep: int, forget_before: float) -> None:
        """Records a failure; keeps the newest `keep` of the key and none of any key older than
        `forget_before`."""
    def auth_clear(self, key: str) -> None: ...
    def auth_remember(self, user: str, ip: str, at: float) -> None:
        """`user` logged in from `ip` at `at` (the last time counts)."""
    def auth_known(self, user: str, ip: str, since: float) -> bool:
        """Whether `user` logged in from `ip` at `since` or later."""
    def forget_worker(self, worker: int) -> None:
        """Drops what a worker that died held: its connections and its leases."""


class AccountsApi(Protocol):
    """Domains, accounts, aliases and app passwords."""

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

    async def get_account(self, address: str) -> Account | None: ...
    async def get_account_by_id(self, account_id: AccountId) -> Account | None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def first_account(self) -> Account | None:
        """The account made first (lowest id), or None when there is none."""
    async def remove_account(self, address: str) -> None: ...
    async def set_password_hash(self, account_id: AccountId, password_hash: str) -> None:
        """Publishes ChangeCredentials(logout=False)."""

    async def update_account(self, account_id: AccountId, **settings: object) -> Account:
        """Settings: quota_bytes, imap_enabled, pop3_enabled, pop3_folders (tuple),
        pop3_mark_read, pop3_delete (Pop3Delete), save_sent."""

    async def bump_credentials(self, account_id: AccountId) -> int:
        """Log out everywhere: new generation, web sessions dropped, ChangeCredentials published."""

    # -- aliases -------------------------------------------------------------
    async def add_alias(self, address: str, target: str) -> Alias: ...
    async def list_aliases(self) -> list[Alias]: ...
    async def remove_alias(self, address: str) -> None: ...
    async def aliases_for(self, account_id: AccountId) -> list[str]:
        """Alias addresses that resolve to this account (sender ownership, R18)."""

    async def resolve(self, address: str) -> list[Account]:
        """The accounts mail to `address` reaches: the account itself, or an alias's targets."""

    # -- app passwords -------------------------------------------------------
    async def add_app_password(
        self, account_id: AccountId, name: str, password_hash: str
    ) -> AppPassword: ...
    async def list_app_passwords(self, account_id: AccountId) -> list[AppPassword]: ...
    async def revoke_app_password(self, account_id: AccountId, name: str) -> None: ...


class MailboxesApi(Protocol):
    """An account's folders, their subscriptions and status."""

    async def list_mailboxes(self, account_id: AccountId) -> list[Mailbox]: ...
    async def get_mailbox(self, account_id: AccountId, name: str) -> Mailbox | None:
        """`name` is matched exactly, except that INBOX is case-insensitive."""

    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> Mailbox | None: ...
    async def special_mailbox(self, account_id: AccountId, special_use: str) -> Mailbox | None: ...
    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> Mailbox: ...
    async def delete_mailbox(self, account_id: AccountId, name: str) -> None: ...
    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> None:
        """Renames children too. Renaming INBOX moves its messages to `new`;
        INBOX stays, empty."""

    async def subscriptions(self, account_id: AccountId) -> set[str]: ...
    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None: ...
    async def mailbox_status(self, mailbox_id: MailboxId) -> MailboxStatus: ...


class MailApi(Protocol):
    """Messages in mailboxes: add, read, flags, copy/move, expunge, search, retention."""

    async def add_messages(self, batch: Sequence[NewMessage]) -> list[Uid | StoreError]:
        """Adds a batch in one transaction (one fsync); each item succeeds or fails alone."""

    async def append(
        self,
        mailbox_id: MailboxId,
        raw: bytes,
        flags: frozenset[str] = frozenset(),
        internaldate: float | None = None,
    ) -> tuple[Uid, int]:
        """Stores one message; returns (uid, uidvalidity). Raises OverQuota."""

    async def message_index(self, mailbox_id: MailboxId) -> list[MessageMeta]:
        """Every message of the mailbox in UID order: what SELECT needs."""

    async def mailbox_index(self, mailbox_id: MailboxId) -> MailboxIndex:
        """The same as columns (uids, modseqs, shared flag sets), for large mailboxes."""

    async def changed_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[MessageMeta]: ...
    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> list[Uid]: ...
    async def changes_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> MailboxChanges | None:
        """HIGHESTMODSEQ, `changed_since` and `expunged_since` in one statement, so
        from one snapshot; when nothing changed, three index look-ups. None: no
        such mailbox."""
    async def get_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[StoredMessage]:
        """Metadata for FETCH, in UID order; unknown UIDs are left out."""

    async def read_raw(self, message: StoredMessage) -> bytes:
        """prefix + blob: the message exactly as it will be served."""

    async def message_listing(self, mailbox_id: MailboxId) -> list[StoredMessage]:
        """Every message in UID order with `parsed` left empty (POP3's maildrop)."""

    async def read_raws(self, batch: Sequence[StoredMessage]) -> dict[int, bytes]:
        """{StoredMessage.id: prefix + blob} for many messages in one go."""

    async def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """{sha256: blob} for many blobs in one go; gone blobs are left out."""

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

    async def copy_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]:
        """(source uid, new uid) pairs; raises OverQuota."""

    async def move_messages(
        self, src: MailboxId, uids: Sequence[Uid], dst: MailboxId
    ) -> list[tuple[Uid, Uid]]: ...
    async def expunge(self, mailbox_id: MailboxId, uids: Sequence[Uid] | None = None) -> list[Uid]:
        """Removes messages flagged \\Deleted (only those in `uids` when given)."""

    async def delete_messages(self, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[Uid]:
        """Removes the messages whatever their flags (POP3 expunge, retention)."""

    async def search_text(
        self, mailbox_id: MailboxId, needle: str, where: str, *, indexed: bool = True
    ) -> set[Uid]:
        """UIDs whose `where` ("text", "body", "from", "subject", "to", "cc", "bcc",
        or "head": any header field or attachment name) contains needle,
        case-insensitively, in the decoded text extracted at delivery. The text
        index narrows the candidates unless `indexed` is False (a plain scan,
        with the same answer)."""

    async def text_indexed(self) -> bool:
        """Whether the database has the text index (PostgreSQL may lack pg_trgm)."""

    async def index_pending(self, limit: int = 200) -> int:
        """Indexes up to `limit` of the blobs delivery queued for the text index
        (one transaction); returns how many it took, fewer when the queue ran
        dry. Safe to run on several nodes at once."""

    async def pending_index(self) -> int:
        """How many stored blobs wait for the text index (searched by scanning)."""

    async def search_account(
        self, account_id: AccountId, query: str, limit: int = 200, *, indexed: bool = True
    ) -> list[tuple[Mailbox, StoredMessage]]:
        """Webmail search across all folders: every word in the sender, subject or
        body (R16), narrowed by the text index unless `indexed` is False."""

    async def message_page(
        self, mailbox_id: MailboxId, offset: int, limit: int
    ) -> list[StoredMessage]:
        """One page of a folder for webmail, newest first (by internal date, then UID)."""

    async def purge_retention(
        self, trash_days: float, spam_days: float, now: float | None = None
    ) -> int: ...


class QueueApi(Protocol):
    """The outbound queue (R21): messages waiting to leave, leased to workers."""

    async def insert(
        self,
        sender: str,
        recipients: Sequence[NewQueueRecipient],
        raw: bytes,
        *,
        envid: str | None = None,
        ret: str | None = None,
    ) -> int:
        """Queues one message; durable when it returns. Returns the queue ID."""
    async def due_domains(self, limit: int = 100) -> list[str]:
        """Domains with recipients due and leased by nobody, longest waiting first."""
    async def claim(
        self, owner: str, lease: float, limit: int = 100, domain: str | None = None
    ) -> list[QueueItem]:
        """Takes up to `limit` due recipients (of `domain`, if given) for `lease` seconds."""
    async def renew(self, owner: str, recipient_ids: Sequence[int], lease: float) -> int:
        """Extends `owner`'s lease on recipients it is still delivering; returns how many."""
    async def message(self, message_id: int) -> QueueMessage | None: ...
    async def finish(self, attempts: Sequence[QueueAttempt]) -> None:
        """Records attempts, all in one transaction. A message none of whose recipients is queued
        any more goes in it too: a node killed right after must not leave it behind."""
    async def recipients_of(self, message_id: int) -> list[QueueItem]:
        """Every recipient row of one message, in the order they were queued."""
    async def claim_delay_notice(self, message_id: int) -> bool:
        """True exactly once per message: whoever gets it sends the "delayed" report."""
    async def entries(self) -> list[QueueEntry]: ...
    async def retry(self, message_id: int | None = None) -> int:
        """Makes queued recipients due now (of one message, or all); returns how many."""
    async def delete(self, message_id: int) -> bool: ...
    async def size(self) -> int: ...
    async def depth(self) -> tuple[int, float | None]:
        """Recipients still queued, and when the oldest message among them was made."""


class LocksApi(Protocol):
    """Named leases: one POP3 session per account at a time, across nodes."""

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    async def refresh_lock(self, name: str, owner: str, ttl: float) -> bool: ...
    async def unlock(self, name: str, owner: str) -> None: ...


class TlsFilesApi(Protocol):
    """Certificates and ACME challenge answers shared by the nodes (store/tlsfiles.py)."""

    async def put_tls_file(self, name: str, data: bytes) -> None: ...
    async def get_tls_file(self, name: str) -> bytes | None: ...
    async def delete_tls_file(self, name: str) -> None: ...
    async def tls_files_under(self, prefix: str) -> dict[str, bytes]:
        """Every file whose name starts with `prefix`, by name."""


class GreylistApi(Protocol):
    """Greylisting at the MX: (client network, sender, recipient) triplets."""

    async def passes(
        self, network: str, sender: str, recipient: str, *, delay: float, expire: float
    ) -> bool:
        """Records an attempt; True when the triplet may pass: it came back at least
        `delay` seconds after it was first seen, or passed within `expire` seconds."""

    async def forget_greylist(self, before: float) -> int:
        """Drops triplets last seen before `before`; returns how many."""


class ImportsApi(Protocol):
    """What imports (postfach/moving/) copied: source folder, UIDVALIDITY and UID."""

    async def seen(
        self, account_id: AccountId, source: str, folder: str, uidvalidity: int
    ) -> set[int]:
        """UIDs of the source folder (at that UIDVALIDITY) already copied into the account."""
    async def remember(
        self,
        account_id: AccountId,
        source: str,
        folder: str,
        uidvalidity: int,
        uids: Sequence[int],
    ) -> None:
        """Notes copied UIDs; noting one twice is harmless."""
    async def forget(self, account_id: AccountId, source: str) -> int:
        """Drops what was noted of one source (a fresh import); returns how many rows."""
    async def add_job(
        self,
        account_id: AccountId,
        host: str,
        port: int,
        security: str,
        login: str,
        password_enc: str,
    ) -> int:
        """A background IMAP import (the web settings page), queued; returns its id."""
    async def jobs(self, account_id: AccountId) -> list[ImportJob]:
        """The account's jobs, newest first."""
    async def next_job(self) -> ImportJob | None:
        """Takes the oldest queued job: it is running when it comes back."""
    async def update_job(self, job_id: int, **values: Any) -> None: ...
    async def requeue_running(self) -> int:
        """At start: jobs left running by a stopped server are queued again."""


class StoreApi(Protocol):
    """The whole store: its roles, and what it holds for all of them."""

    dialect: str  # "sqlite" or "postgresql"

    @property
    def hub(self) -> HubApi: ...
    @property
    def runtime(self) -> RuntimeState | None:
        """Set by a worker of `serve --workers N`; None otherwise."""

    @property
    def accounts(self) -> AccountsApi: ...
    @property
    def mailboxes(self) -> MailboxesApi: ...
    @property
    def mail(self) -> MailApi: ...
    @property
    def queue(self) -> QueueApi: ...
    @property
    def web(self) -> WebSessionsApi: ...
    @property
    def mailing(self) -> MailingApi: ...
    @property
    def locks(self) -> LocksApi: ...
    @property
    def greylist(self) -> GreylistApi: ...
    @property
    def tls_files(self) -> TlsFilesApi: ...
    @property
    def spam(self) -> SpamApi: ...
    @property
    def imports(self) -> ImportsApi: ...
    @property
    def signin(self) -> SigninApi: ...
    @property
    def urlauth(self) -> UrlauthApi: ...
    @property
    def sieve(self) -> SieveApi: ...

    async def close(self) -> None: ...
