"""The one schema, as SQLAlchemy Core tables, for SQLite and PostgreSQL alike.

Other store modules (queue, mailing, web sessions) add their tables to the same
`metadata`. `SCHEMA_VERSION` counts migrations; store/migrate.py applies them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "accounts",
    "aliases",
    "app_passwords",
    "blobs",
    "domains",
    "expunged",
    "locks",
    "mailboxes",
    "messages",
    "meta",
    "metadata",
    "subscriptions",
]

metadata = MetaData()

# Autoincrementing 64-bit keys: BIGINT on PostgreSQL, INTEGER (rowid) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

domains = Table(
    "domains",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("dkim_selector", String(63), nullable=False, default=""),
    Column("dkim_private_key", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("quota_bytes", BigInteger, nullable=False, default=0),
    Column("used_bytes", BigInteger, nullable=False, default=0),
    Column("imap_enabled", Boolean, nullable=False, default=True),
    Column("pop3_enabled", Boolean, nullable=False, default=True),
    Column("pop3_folders", Text, nullable=False, default="INBOX"),
    Column("pop3_mark_read", Boolean, nullable=False, default=False),
    Column("pop3_delete", String(16), nullable=False, default="keep"),
    Column("save_sent", Boolean, nullable=False, default=False),
    Column("credentials_gen", Integer, nullable=False, default=1),
    Column("created", Float, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False),
    Column("target", String(320), nullable=False),
    UniqueConstraint("address", "target"),
    Index("aliases_target", "target"),
)

app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created", Float, nullable=False),
    UniqueConstraint("account_id", "name"),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(1000), nullable=False),
    Column("special_use", String(32), nullable=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False, default=1),
    Column("highestmodseq", BigInteger, nullable=False, default=1),
    UniqueConstraint("account_id", "name"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "account_id",
        IdType,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(1000), primary_key=True),
)

# Raw bytes are kept once per content, with what delivery parsed out of them.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("parsed", Text, nullable=False),
    # Case-folded text for SEARCH and webmail search (R16).
    Column("s_from", Text, nullable=False, default=""),
    Column("s_to", Text, nullable=False, default=""),
    Column("s_cc", Text, nullable=False, default=""),
    Column("s_bcc", Text, nullable=False, default=""),
    Column("s_subject", Text, nullable=False, default=""),
    Column("s_body", Text, nullable=False, default=""),
    # Last: SQLite reaches a column behind a large value only by walking its
    # overflow pages, so FETCH's `parsed` and SEARCH's text come first.
    Column("data", LargeBinary, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("mailbox_id", IdType, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("flags", Text, nullable=False, default=""),
    Column("internaldate", Float, nullable=False),
    Column("size", BigInteger, nullable=False),
    # No cascade: a blob stays while any message refers to it.
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256"), nullable=False),
    Column("prefix", LargeBinary, nullable=False),
    Column("entered_at", Float, nullable=False),
    UniqueConstraint("mailbox_id", "uid"),
    Index("messages_modseq", "mailbox_id", "modseq"),
    Index("messages_blob", "blob_sha256"),
)

# Expunged UIDs with the modseq of their removal, for QRESYNC's VANISHED.
expunged = Table(
    "expunged",
    metadata,
    Column("mailbox_id", IdType, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Index("expunged_modseq", "mailbox_id", "modseq"),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(400), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires", Float, nullable=False),
)
