"""The records of the mailing role (store/mailing.py), and how rows become them.

Owns no table. Passwords arrive already encrypted (mailing/vault.py); the store
never sees plaintext and records hide the ciphertext from `repr`.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BOUNCED",
    "FAILED",
    "QUEUED",
    "SENT",
    "DAY",
    "HOUR",
    "BounceBox",
    "Campaign",
    "Claimed",
    "Contact",
    "Outcome",
    "Quota",
    "RecipientRow",
    "Relay",
    "Settle",
    "new_token",
    "parse_fields",
    "to_recipient_row",
    "to_relay",
]

QUEUED, SENT, FAILED, BOUNCED = "queued", "sent", "failed", "bounced"
HOUR, DAY = 3600.0, 86400.0

def new_token() -> str:
    """24 lowercase base32 characters: safe in a URL, a local part and a Message-ID."""
    return base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


@dataclass(frozen=True, slots=True)
class Relay:
    id: int
    name: str
    kind: str
    sender_address: str
    sender_name: str
    host: str
    port: int
    security: str
    tls_verify: bool
    login: str
    password_enc: str = field(repr=False)
    allow_substitution: bool
    hourly_limit: int
    daily_limit: int
    position: int
    enabled: bool
    concurrency: int
    per_connection: int


@dataclass(frozen=True, slots=True)
class Quota:
    """A relay's rolling windows at one moment; `None` remaining means no limit."""

    sent_hour: int
    sent_day: int
    remaining_hour: int | None
    remaining_day: int | None
    next_window: float | None  # when room opens again, if there is none now

    @property
    def room(self) -> int | None:
        values = [v for v in (self.remaining_hour, self.remaining_day) if v is not None]
        return min(values) if values else None


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    list_id: int
    email: str
    fields: dict[str, str]
    unsubscribed: bool
    bounced: bool
    soft_bounces: int


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    list_id: int
    subject: str
    text_body: str
    html_body: str
    from_name: str
    from_address: str
    state: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """One recipient taken for sending, with what its message needs."""

    id: int
    campaign_id: int
    email: str
    token: str
    attempts: int
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    recipient_id: int
    state: str  # sent, failed, or queued (4xx: again at next_attempt)
    reply: str
    next_attempt: float = 0.0


@dataclass(frozen=True, slots=True)
class Settle:
    """The outcomes of one batch sent through `relay`, whose room was reserved at `since`."""

    relay: Relay
    outcomes: Sequence[Outcome]
    since: float


@dataclass(frozen=True, slots=True)
class RecipientRow:
    id: int
    campaign_id: int
    contact_id: int
    email: str
    token: str
    state: str
    attempts: int
    relay_name: str
    reply: str
    updated: float


@dataclass(frozen=True, slots=True)
class BounceBox:
    id: int
    name: str
    relay_name: str
    host: str
    port: int
    security: str
    tls_verify: bool
    login: str
    password_enc: str = field(repr=False)
    folder: str
    done_folder: str
    last_check: float
    last_result: str


def to_relay(row: Any) -> Relay:
    return Relay(**{f: getattr(row, f) for f in Relay.__dataclass_fields__})


def parse_fields(text: str) -> dict[str, str]:
    value = json.loads(text or "{}")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def to_recipient_row(r: Any) -> RecipientRow:
    return RecipientRow(**{f: getattr(r, f) for f in RecipientRow.__dataclass_fields__})
