"""The one schema, as SQLAlchemy Core tables, for SQLite and PostgreSQL alike.

Every table of the mail database is declared here, on one `metadata`, and
`StoreBase.migrate` (store/base.py) creates what a database lacks, tables and
indexes both, and steps `SCHEMA_VERSION` forward. Which role owns which table
is said in each role's module docstring and in the package docstring.
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
    false,
)

__all__ = [
    "IdType", "accounts", "aliases", "app_passwords", "blobs", "domains", "expunged",
    "greylist", "import_jobs", "import_seen", "locks", "mailboxes", "mailing_attachments",
    "mailing_bounce_boxes", "mailing_campaigns", "mailing_contacts", "mailing_lists",
    "mailing_recipients", "mailing_relays", "mailing_sends", "messages", "meta", "metadata",
    "queue_delay_notices", "queue_messages", "queue_recipients", "spam_accounts", "spam_learnt",
    "spam_senders", "spam_tokens", "subscriptions", "text_pending", "tls_files",
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
    # Added later (migrate adds it): may use the admin pages of the web listener.
    Column("admin", Boolean, nullable=False, server_default=false()),
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
    # RFC 8474 MAILBOXID, kept across RENAME; nullable: migrate adds it, then fills it.
    Column("objectid", String(64), nullable=True),
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
    # Every header field and the attachment names: what SEARCH TEXT adds to the
    # body. It and s_body are indexed for substring search (store/textindex.py).
    # Added later; textupkeep.ensure adds it to older databases and fills it in.
    Column("s_head", Text, nullable=False, default="", info={"migrated_by": "textindex"}),
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
    # Which messages hold a blob: for collecting blobs, and for SEARCH, where
    # the text index yields blobs and this leads, without reading the rows, to
    # their mailboxes and UIDs (store/textindex.py).
    Index("messages_blob_uid", "blob_sha256", "mailbox_id", "uid"),
)

# Blobs stored but not yet in the full-text index (store/textindex.py): a
# trigger adds each new blob in the transaction that stores it, the indexer
# takes them out in batches, and SEARCH reads the ones left here by scanning.
text_pending = Table(
    "text_pending",
    metadata,
    Column("sha256", String(64), ForeignKey("blobs.sha256", ondelete="CASCADE"), primary_key=True),
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


# -- imports (store/imports.py): source messages already copied -----------------

import_seen = Table(
    "import_seen",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(500), nullable=False),  # e.g. imap://user@host:993
    Column("folder", String(1000), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    UniqueConstraint("account_id", "source", "folder", "uidvalidity", "uid"),
)

# Imports started from the web settings page; the server runs them in the background
# and, after a restart, again (they are resumable). The password is sealed (mailing's
# vault) and dropped when the job ends.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("security", String(16), nullable=False),
    Column("login", Text, nullable=False),
    Column("password_enc", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("messages_total", Integer, nullable=False, default=0),
    Column("messages_done", Integer, nullable=False, default=0),
    Column("octets_done", BigInteger, nullable=False, default=0),
    Column("error", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("import_jobs_state", "state", "id"),
)


# -- outbound queue (store/queue.py) -------------------------------------------

queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("sender", Text, nullable=False),
    Column("envid", Text, nullable=True),
    Column("ret", String(4), nullable=True),
    Column("raw", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created", Float, nullable=False),
)

queue_recipients = Table(
    "queue_recipients",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        IdType,
        ForeignKey("queue_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("address", Text, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("notify", String(64), nullable=False, default=""),  # "" = not given
    Column("orcpt", Text, nullable=False, default=""),  # "addr-type;address" or ""
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", Float, nullable=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("owner", String(128), nullable=False, default=""),
    Column("lease_until", Float, nullable=False, default=0.0),
    Index("ix_queue_recipients_due", "status", "next_attempt"),
    Index("ix_queue_recipients_message", "message_id"),
)

queue_delay_notices = Table(
    "queue_delay_notices",
    metadata,
    Column(
        "message_id",
        IdType,
        ForeignKey("queue_messages.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("sent", Float, nullable=False),
)


# -- bulk mailing (store/mailing.py) ------------------------------------------

mailing_relays = Table(
    "mailing_relays",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # "internal" or "external"
    Column("sender_address", String(320), nullable=False),
    Column("sender_name", Text, nullable=False, default=""),
    Column("host", String(255), nullable=False, default=""),
    Column("port", Integer, nullable=False, default=0),
    Column("security", String(16), nullable=False, default="starttls"),
    Column("tls_verify", Boolean, nullable=False, default=True),
    Column("login", Text, nullable=False, default=""),
    Column("password_enc", Text, nullable=False, default=""),
    Column("allow_substitution", Boolean, nullable=False, default=False),
    Column("hourly_limit", Integer, nullable=False, default=0),  # 0: no limit
    Column("daily_limit", Integer, nullable=False, default=0),
    Column("position", Integer, nullable=False, default=0),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("concurrency", Integer, nullable=False, default=2),
    Column("per_connection", Integer, nullable=False, default=100),
    Column("created", Float, nullable=False),
)

mailing_sends = Table(
    "mailing_sends",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("relay_id", IdType, ForeignKey("mailing_relays.id", ondelete="CASCADE"), nullable=False),
    Column("recipient_id", IdType, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_mailing_sends_relay_at", "relay_id", "at"),
)

mailing_lists = Table(
    "mailing_lists",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

mailing_contacts = Table(
    "mailing_contacts",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("list_id", IdType, ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),  # case-folded, for merging
    Column("fields", Text, nullable=False, default="{}"),
    Column("unsubscribed", Boolean, nullable=False, default=False),
    Column("bounced", Boolean, nullable=False, default=False),
    Column("soft_bounces", Integer, nullable=False, default=0),
    UniqueConstraint("list_id", "email_key"),
    Index("ix_mailing_contacts_key", "email_key"),
)

mailing_campaigns = Table(
    "mailing_campaigns",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("list_id", IdType, ForeignKey("mailing_lists.id"), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False, default=""),
    Column("html_body", Text, nullable=False, default=""),
    Column("from_name", Text, nullable=False, default=""),
    Column("from_address", String(320), nullable=False, default=""),
    Column("state", String(16), nullable=False, default="draft"),
    Column("created", Float, nullable=False),
)

mailing_attachments = Table(
    "mailing_attachments",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column(
        "campaign_id",
        IdType,
        ForeignKey("mailing_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("filename", Text, nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

mailing_recipients = Table(
    "mailing_recipients",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column(
        "campaign_id",
        IdType,
        ForeignKey("mailing_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contact_id", IdType, nullable=False),
    Column("email", String(320), nullable=False),
    Column("token", String(40), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", Float, nullable=False, default=0.0),
    Column("relay_name", String(200), nullable=False, default=""),
    Column("reply", Text, nullable=False, default=""),
    Column("updated", Float, nullable=False, default=0.0),
    Column("owner", String(200), nullable=False, default=""),
    Column("lease_until", Float, nullable=False, default=0.0),
    UniqueConstraint("campaign_id", "contact_id"),
    # The claim walks this in order: no sort, whatever the campaign's size.
    Index("ix_mailing_recipients_next", "campaign_id", "state", "next_attempt", "id"),
    Index("ix_mailing_recipients_email", "email"),
)

mailing_bounce_boxes = Table(
    "mailing_bounce_boxes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("relay_name", String(200), nullable=False, default=""),  # "" = global
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("security", String(16), nullable=False),
    Column("tls_verify", Boolean, nullable=False, default=True),
    Column("login", Text, nullable=False),
    Column("password_enc", Text, nullable=False),
    Column("folder", Text, nullable=False, default="INBOX"),
    Column("done_folder", Text, nullable=False, default="Processed"),
    Column("last_check", Float, nullable=False, default=0.0),
    Column("last_result", Text, nullable=False, default=""),
)

# -- certificates and ACME answers every node needs (store/tlsfiles.py) -------------
tls_files = Table(
    "tls_files",
    metadata,
    Column("name", String(300), primary_key=True),  # "certs/NAME.pem", "http-01/TOKEN"
    Column("data", LargeBinary, nullable=False),
    Column("updated", Float, nullable=False),
)

# -- greylisting at the MX (store/greylist.py) ------------------------------------
greylist = Table(
    "greylist",
    metadata,
    Column("network", String(64), primary_key=True),  # the client's /24 or /64
    Column("sender", Text, primary_key=True),  # lower-cased; "" for a bounce
    Column("recipient", Text, primary_key=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("passed", Boolean, nullable=False, default=False),  # came back after the delay
    Index("ix_greylist_last_seen", "last_seen"),  # forgetting old triplets
)

# -- spam (store/spam.py) ------------------------------------------------------

# Per account: its own thresholds (NULL: the server's) and how many messages the
# classifier has learnt as spam and as ham.
spam_accounts = Table(
    "spam_accounts",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("file_threshold", Float, nullable=True),
    Column("reject_threshold", Float, nullable=True),
    Column("learnt_spam", BigInteger, nullable=False, default=0),
    Column("learnt_ham", BigInteger, nullable=False, default=0),
)

# The classifier's counts: in how many learnt spam and ham messages a token was.
spam_tokens = Table(
    "spam_tokens",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("spam", BigInteger, nullable=False, default=0),
    Column("ham", BigInteger, nullable=False, default=0),
)

# Senders and domains an account always takes ("allow") or always files in Spam ("block").
spam_senders = Table(
    "spam_senders",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("entry", String(320), primary_key=True),  # "bob@example.net" or "example.net"
    Column("kind", String(8), nullable=False),  # "allow" or "block"
)

# Which messages an account's classifier learnt, and as what (by a digest of the
# message): filing one twice teaches once, and taking it back out of Spam turns
# what it taught as spam into ham.
spam_learnt = Table(
    "spam_learnt",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("message_key", String(64), primary_key=True),
    Column("spam", Boolean, nullable=False),
)
