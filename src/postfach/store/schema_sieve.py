"""The Sieve role's tables (store/sieve.py), on schema.py's one `metadata`.

Kept apart from schema.py only because that module is at its size limit: the
tables join the same metadata, so `migrate` creates them like every other
(`postfach.store` imports this module through the role before it migrates).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Integer, String, Table, Text

from postfach.store.schema import IdType, metadata

__all__ = ["sieve_redirects", "sieve_replies", "sieve_scripts"]


def _account_key() -> Column[int]:
    return Column(
        "account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )


# An account's scripts (RFC 5804 names); at most one is active, the store sees to it.
sieve_scripts = Table(
    "sieve_scripts",
    metadata,
    _account_key(),
    Column("name", String(255), primary_key=True),
    Column("content", Text, nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    Column("updated", Float, nullable=False),
)

# Vacation (RFC 5230 §4.2): which sender got an auto-reply for which :handle, and
# until when no other goes out to them.
sieve_replies = Table(
    "sieve_replies",
    metadata,
    _account_key(),
    Column("sender", String(320), primary_key=True),  # lower-cased
    Column("handle", String(64), primary_key=True),  # sha-256 hex of the :handle
    Column("expires", Float, nullable=False),
)

# Redirects an account's scripts made per window (its start, epoch seconds): the rate limit.
sieve_redirects = Table(
    "sieve_redirects",
    metadata,
    _account_key(),
    Column("window_start", BigInteger, primary_key=True),
    Column("redirects", Integer, nullable=False),
)
