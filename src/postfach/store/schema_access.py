"""Tables of who may get in (store/web.py, signin.py, urlauth.py), on schema.py's
one `metadata`: browser sessions and admin tokens, two-factor secrets, recovery
codes, sign-ins waiting for their second factor, the mail programs seen, and the
URLAUTH keys. Apart from schema.py only for its size; migrate creates them like
every other table (`postfach.store` imports this module through its roles).
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
    String,
    Table,
    UniqueConstraint,
)

from postfach.store.schema import IdType, metadata

__all__ = [
    "admin_tokens", "pending_logins", "recovery_codes", "second_factors", "seen_logins",
    "urlauth_keys", "web_sessions",
]  # fmt: skip

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("ip", String(64), nullable=False, default=""),
    # Added after the first release (migrate adds them): for the sessions page.
    Column("last_seen", Float, nullable=True),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Index("web_sessions_account", "account_id"),
)

second_factors = Table(
    "second_factors",
    metadata,
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, default=False),
    Column("last_step", BigInteger, nullable=False, default=0),  # a step is accepted once
    Column("created", Float, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("used", Float, nullable=True),
    Index("recovery_codes_account", "account_id"),
)

# A password accepted, the second factor not yet: what the code page continues.
pending_logins = Table(
    "pending_logins",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("expires", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
)

# Mail programs seen lately: one row per account, protocol, address and credential.
seen_logins = Table(
    "seen_logins",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("app_password", String(200), nullable=False),  # "": the account's password
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    UniqueConstraint("account_id", "protocol", "ip", "app_password"),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created", Float, nullable=False),
    Column("last_used", Float, nullable=True),
)

# -- URLAUTH (store/urlauth.py) -------------------------------------------------
# RFC 4467: the secret of each mailbox's URLAUTH tokens (HMAC needs the key itself).
urlauth_keys = Table(
    "urlauth_keys",
    metadata,
    Column("mailbox_id", IdType, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("secret", String(64), nullable=False),  # 32 random octets, hex
    Index("urlauth_keys_account", "account_id"),
)
