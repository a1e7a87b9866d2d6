"""Records the store hands out: frozen dataclasses, never rows.

Everything outside `store/` sees accounts, mailboxes and messages only through
these types. Distinct `NewType`s keep message sequence numbers and UIDs apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NewType

from postfach.store.blobs import PreparedBlob

AccountId = NewType("AccountId", int)
MailboxId = NewType("MailboxId", int)
Uid = NewType("Uid", int)
ModSeq = NewType("ModSeq", int)

__all__ = [
    "Account",
    "AdminToken",
    "AccountId",
    "Alias",
    "AppPassword",
    "DeliveryStatus",
    "ImportJob",
    "Domain",
    "Mailbox",
    "MailboxId",
    "MailboxChanges",
    "MailboxIndex",
    "MailboxStatus",
    "MessageMeta",
    "ModSeq",
    "NewMessage",
    "PendingLogin",
    "Pop3Delete",
    "SecondFactor",
    "SeenLogin",
    "SpecialUse",
    "StoredMessage",
    "Uid",
    "WebSession",
]


class SpecialUse(enum.StrEnum):
    """RFC 6154 special-use attributes of the standard folders."""

    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    JUNK = "\\Junk"
    TRASH = "\\Trash"
    ARCHIVE = "\\Archive"


# The folders every new account gets, with their special-use attributes (R10).
DEFAULT_MAILBOXES: tuple[tuple[str, SpecialUse | None], ...] = (
    ("INBOX", None),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Spam", SpecialUse.JUNK),
    ("Trash", SpecialUse.TRASH),
)


class Pop3Delete(enum.StrEnum):
    """What a POP3 DELE does at QUIT (R12)."""

    KEEP = "keep"
    TRASH = "trash"
    EXPUNGE = "expunge"


class DeliveryStatus(enum.StrEnum):
    DELIVERED = "delivered"
    UNKNOWN_USER = "unknown user"
    OVER_QUOTA = "over quota"
    REJECTED = "rejected"  # by the account's Sieve script (reject, ereject)


@dataclass(frozen=True, slots=True)
class Domain:
    id: int
    name: str
    dkim_selector: str
    dkim_private_key: str  # PEM, empty when none


@dataclass(frozen=True, slots=True)
class Account:
    id: AccountId
    address: str
    password_hash: str
    quota_bytes: int  # 0: unlimited
    used_bytes: int
    imap_enabled: bool
    pop3_enabled: bool
    pop3_folders: tuple[str, ...]
    pop3_mark_read: bool
    pop3_delete: Pop3Delete
    save_sent: bool
    credentials_gen: int
    admin: bool = False  # may use the web listener's admin pages

    @property
    def local_part(self) -> str:
        return self.address.rsplit("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


@dataclass(frozen=True, slots=True)
class Alias:
    address: str
    target: str


@dataclass(frozen=True, slots=True)
class AppPassword:
    id: int
    account_id: AccountId
    name: str
    password_hash: str
    created: float


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: MailboxId
    account_id: AccountId
    name: str  # hierarchy separated by "/", "INBOX" for the inbox
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: Uid
    highestmodseq: ModSeq
    objectid: str = ""  # RFC 8474 MAILBOXID


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    mailbox: Mailbox
    messages: int
    unseen: int
    size: int  # octets, RFC 8438 STATUS SIZE
    deleted: int


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """What IMAP needs of a message without its bytes: flags and numbers."""

    uid: Uid
    modseq: ModSeq
    flags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class MailboxIndex:
    """A mailbox's messages in UID order, as columns: what SELECT needs, built
    without an object per message. Equal flag sets share one frozenset."""

    uids: list[int]
    modseqs: list[int]
    flags: list[frozenset[str]]

    def __len__(self) -> int:
        return len(self.uids)


@dataclass(frozen=True, slots=True)
class MailboxChanges:
    """What changed in a mailbox since a MODSEQ, as of one moment: its HIGHESTMODSEQ
    then, the messages with a higher MODSEQ (new or with changed flags, in UID
    order) and the UIDs expunged since."""

    highestmodseq: ModSeq
    changed: list[MessageMeta]
    expunged: list[Uid]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message with everything FETCH can ask for except the raw bytes."""

    id: int
    mailbox_id: MailboxId
    uid: Uid
    modseq: ModSeq
    flags: frozenset[str]
    internaldate: float  # Unix time
    size: int  # octets of prefix + body blob
    blob_sha256: str
    prefix: bytes  # per-recipient trace headers (Return-Path, Delivered-To, Received)
    parsed: str  # JSON of message.parse.ParsedMessage, for the blob alone
    entered_at: float  # when it arrived in this mailbox (retention counts from here)


@dataclass(frozen=True, slots=True)
class WebSession:
    account_id: AccountId
    generation: int
    csrf: str
    created: float
    expires: float
    ip: str = ""
    last_seen: float | None = None
    user_agent: str = ""
    id_sha256: str = ""  # names the session on the sessions page, never the id itself


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """An account's TOTP secret; `enabled` once the user confirmed a code."""

    account_id: AccountId
    secret: str
    enabled: bool
    last_step: int
    recovery_left: int


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A sign-in whose password was right, waiting for its second factor."""

    account_id: AccountId
    generation: int
    expires: float
    attempts: int


@dataclass(frozen=True, slots=True)
class SeenLogin:
    """A mail program seen lately: its protocol, address and credential."""

    id: int
    protocol: str
    ip: str
    app_password: str  # "": the account's own password
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class AdminToken:
    id: int
    name: str
    created: float
    last_used: float | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to add in a batch (delivery's group commit, APPEND, save to Sent)."""

    mailbox_id: MailboxId
    blob: PreparedBlob
    prefix: bytes = b""
    flags: frozenset[str] = frozenset()
    internaldate: float | None = None


@dataclass(frozen=True, slots=True)
class ImportJob:
    """An IMAP import started from the web settings page (store.imports)."""

    id: int
    account_id: AccountId
    host: str
    port: int
    security: str  # ssl, starttls, none
    login: str
    password_enc: str  # sealed by mailing's vault; "" once the job ended
    state: str  # queued, running, done, failed
    messages_total: int
    messages_done: int
    octets_done: int
    error: str
    created: float
    updated: float
