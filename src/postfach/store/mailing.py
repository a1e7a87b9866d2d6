"""Bulk mailing's tables and queries (R22–R26): relays, contacts, campaigns, sends.

`MailingStore` wraps a `postfach.store.Store` (it uses its `write()`/`read()`
transactions) and creates its own tables on first use. The scheduler's two
invariants live here, in single transactions:

- **Limits** (R24): every message a relay may send is first *reserved* as a row
  of `mailing_sends` stamped with the (injectable) clock. A reservation counts
  the relay's rows in the rolling hour and day and grants only what is left,
  under the relay row's lock on PostgreSQL (SQLite has one writer), so nodes
  sharing a database never overshoot together, and restarts lose no count.
- **Work sharing**: due recipients are claimed with a lease; on PostgreSQL the
  claim uses SKIP LOCKED so nodes take disjoint rows.

Passwords arrive here already encrypted (mailing/vault.py); the store never sees
plaintext and records hide the ciphertext from `repr`.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from postfach.store.base import StoreBase, inserted_id
from postfach.store.schema import IdType, metadata

__all__ = [
    "BounceBox",
    "Campaign",
    "Claimed",
    "Contact",
    "MailingStore",
    "Outcome",
    "Quota",
    "RecipientRow",
    "Relay",
    "Settle",
    "new_token",
]

QUEUED, SENT, FAILED, BOUNCED = "queued", "sent", "failed", "bounced"
HOUR, DAY = 3600.0, 86400.0

relays = Table(
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

sends = Table(
    "mailing_sends",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("relay_id", IdType, ForeignKey("mailing_relays.id", ondelete="CASCADE"), nullable=False),
    Column("recipient_id", IdType, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_mailing_sends_relay_at", "relay_id", "at"),
)

lists = Table(
    "mailing_lists",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

contacts = Table(
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

campaigns = Table(
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

attachments = Table(
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

recipients = Table(
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

bounce_boxes = Table(
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

_TABLES = [relays, sends, lists, contacts, campaigns, attachments, recipients, bounce_boxes]


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


def _create(conn: Any) -> None:
    """The tables, and indexes added since a table was made (create_all skips those)."""
    metadata.create_all(conn, tables=_TABLES)
    for table in _TABLES:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _relay(row: Any) -> Relay:
    return Relay(**{f: getattr(row, f) for f in Relay.__dataclass_fields__})


def _fields(text: str) -> dict[str, str]:
    value = json.loads(text or "{}")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _chunks(items: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MailingStore:
    """The mailing tables over an open store."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    @classmethod
    async def attach(cls, store: StoreBase) -> MailingStore:
        """Creates the mailing tables if this database lacks them. Once per process
        (postfach.app.build_context) or per command; the context carries the result."""
        async with store.write() as tx:
            if store.dialect == "postgresql":
                await tx.exec_driver_sql("SELECT pg_advisory_xact_lock(7268511)")
            await tx.run_sync(_create)
        return cls(store)

    # -- relays (R22) --------------------------------------------------------
    async def add_relay(self, name: str, now: float, **values: Any) -> Relay:
        async with self.store.write() as tx:
            if values.get("position") is None:
                top = await tx.scalar(select(func.max(relays.c.position)))
                values["position"] = int(top or 0) + 1
            await tx.execute(insert(relays).values(name=name, created=now, **values))
        relay = await self.get_relay(name)
        assert relay is not None
        return relay

    async def update_relay(self, name: str, **values: Any) -> bool:
        async with self.store.write() as tx:
            result = await tx.execute(update(relays).where(relays.c.name == name).values(**values))
        return bool(result.rowcount)

    async def get_relay(self, name: str) -> Relay | None:
        async with self.store.read() as conn:
            row = (await conn.execute(select(relays).where(relays.c.name == name))).first()
        return _relay(row) if row else None

    async def list_relays(self) -> list[Relay]:
        """All relays in sending order."""
        async with self.store.read() as conn:
            rows = await conn.execute(select(relays).order_by(relays.c.position, relays.c.id))
            return [_relay(r) for r in rows]

    async def remove_relay(self, name: str) -> bool:
        async with self.store.write() as tx:
            relay_id = await tx.scalar(select(relays.c.id).where(relays.c.name == name))
            if relay_id is None:
                return False
            await tx.execute(delete(sends).where(sends.c.relay_id == relay_id))
            await tx.execute(delete(relays).where(relays.c.id == relay_id))
        return True

    # -- limits (R24) --------------------------------------------------------
    async def quota(self, relay: Relay, now: float) -> Quota:
        async with self.store.read() as conn:
            return await _quota(conn, relay, now)

    async def reserve(self, relay: Relay, recipient_ids: Sequence[int], now: float) -> int:
        """Counts `recipient_ids` (in order) against the relay; returns how many fit."""
        async with self.store.write() as tx:
            granted = await _reserve(tx, self.store.dialect, relay, list(recipient_ids), now)
        return granted

    async def forget_sends(self, before: float) -> None:
        async with self.store.write() as tx:
            await tx.execute(delete(sends).where(sends.c.at < before))

    # -- lists and contacts --------------------------------------------------
    async def ensure_list(self, name: str, now: float) -> int:
        async with self.store.write() as tx:
            found = await tx.scalar(select(lists.c.id).where(lists.c.name == name))
            if found is not None:
                return int(found)
            return inserted_id(await tx.execute(insert(lists).values(name=name, created=now)))

    async def get_list(self, name: str) -> int | None:
        async with self.store.read() as conn:
            found = await conn.scalar(select(lists.c.id).where(lists.c.name == name))
        return int(found) if found is not None else None

    async def list_lists(self) -> list[tuple[str, int]]:
        """(name, number of contacts) of every list."""
        query = (
            select(lists.c.name, func.count(contacts.c.id))
            .select_from(lists.outerjoin(contacts, contacts.c.list_id == lists.c.id))
            .group_by(lists.c.id, lists.c.name)
            .order_by(lists.c.name)
        )
        async with self.store.read() as conn:
            return [(r[0], int(r[1])) for r in await conn.execute(query)]

    async def import_contacts(
        self, list_id: int, rows: Sequence[tuple[str, dict[str, str]]]
    ) -> tuple[int, int]:
        """Adds contacts, merging columns into existing ones; returns (added, merged)."""
        added = merged = 0
        async with self.store.write() as tx:
            for chunk in _chunks(list(rows)):
                a, m = await _import_chunk(tx, list_id, chunk)
                added, merged = added + a, merged + m
        return added, merged

    async def list_contacts(self, list_id: int) -> list[Contact]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(contacts).where(contacts.c.list_id == list_id).order_by(contacts.c.id)
            )
            return [
                Contact(
                    r.id,
                    r.list_id,
                    r.email,
                    _fields(r.fields),
                    r.unsubscribed,
                    r.bounced,
                    r.soft_bounces,
                )  # fmt: skip
                for r in rows
            ]

    # -- campaigns -----------------------------------------------------------
    async def create_campaign(self, name: str, list_id: int, now: float, **values: Any) -> Campaign:
        async with self.store.write() as tx:
            await tx.execute(
                insert(campaigns).values(
                    name=name, list_id=list_id, created=now, state="draft", **values
                )
            )
        found = await self.get_campaign(name)
        assert found is not None
        return found

    async def get_campaign(self, name: str | int) -> Campaign | None:
        column = campaigns.c.id if isinstance(name, int) else campaigns.c.name
        async with self.store.read() as conn:
            row = (await conn.execute(select(campaigns).where(column == name))).first()
        if row is None:
            return None
        return Campaign(**{f: getattr(row, f) for f in Campaign.__dataclass_fields__})

    async def campaigns_in_state(self, state: str) -> list[Campaign]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(campaigns.c.name).where(campaigns.c.state == state).order_by(campaigns.c.id)
            )
            names = [r[0] for r in rows]
        found = [await self.get_campaign(n) for n in names]
        return [c for c in found if c is not None]

    async def set_campaign_state(self, campaign_id: int, state: str) -> None:
        async with self.store.write() as tx:
            await tx.execute(
                update(campaigns).where(campaigns.c.id == campaign_id).values(state=state)
            )

    async def add_attachment(
        self, campaign_id: int, filename: str, content_type: str, data: bytes
    ) -> None:
        async with self.store.write() as tx:
            await tx.execute(
                insert(attachments).values(
                    campaign_id=campaign_id, filename=filename, content_type=content_type, data=data
                )
            )

    async def attachments(self, campaign_id: int) -> list[tuple[str, str, bytes]]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(attachments.c.filename, attachments.c.content_type, attachments.c.data)
                .where(attachments.c.campaign_id == campaign_id)
                .order_by(attachments.c.id)
            )
            return [(r[0], r[1], bytes(r[2])) for r in rows]

    # -- the send queue ------------------------------------------------------
    async def queue_campaign(self, campaign: Campaign, now: float) -> int:
        """Queues every contact of the list that may get mail and is not queued yet."""
        eligible = (
            select(contacts.c.id, contacts.c.email)
            .where(
                contacts.c.list_id == campaign.list_id,
                contacts.c.unsubscribed.is_(False),
                contacts.c.bounced.is_(False),
                ~contacts.c.id.in_(
                    select(recipients.c.contact_id).where(recipients.c.campaign_id == campaign.id)
                ),
            )
            .order_by(contacts.c.id)
        )
        async with self.store.write() as tx:
            # Two sends of one campaign at once queue it once: the campaign row
            # is locked first (PostgreSQL; SQLite has a single writer anyway).
            await tx.execute(
                select(campaigns.c.id).where(campaigns.c.id == campaign.id).with_for_update()
            )
            rows = (await tx.execute(eligible)).all()
            values = [
                {
                    "campaign_id": campaign.id,
                    "contact_id": r.id,
                    "email": r.email,
                    "token": new_token(),
                    "state": QUEUED,
                    "next_attempt": now,
                    "updated": now,
                }
                for r in rows
            ]
            for chunk in _chunks(values, 5000):
                await tx.execute(insert(recipients), list(chunk))
            await tx.execute(
                update(campaigns).where(campaigns.c.id == campaign.id).values(state="sending")
            )
        return len(values)

    async def claim(
        self,
        campaign_id: int,
        relay: Relay,
        owner: str,
        want: int,
        now: float,
        lease: float,
        settle: Settle | None = None,
    ) -> list[Claimed]:
        """Takes up to `want` due recipients and reserves the relay's room for them.

        `settle`, the outcomes of the batch before, is recorded first in the same
        transaction: one commit per batch.
        """
        async with self.store.write() as tx:
            if settle is not None:
                await _record(tx, settle, now)
            return await _claim(tx, self.store.dialect, campaign_id, relay, owner, want, now, lease)

    async def unclaim(self, recipient_ids: Sequence[int]) -> None:
        if not recipient_ids:
            return
        async with self.store.write() as tx:
            await _unclaim(tx, recipient_ids)

    async def give_back(
        self, relay: Relay, unreserve: Sequence[int], unclaim: Sequence[int], since: float
    ) -> None:
        """Reservations (made at `since`) and claims of messages that never reached the relay."""
        if not unreserve and not unclaim:
            return
        async with self.store.write() as tx:
            await _release(tx, relay, unreserve, since)
            await _unclaim(tx, unclaim)

    async def record(
        self, relay: Relay, outcomes: Sequence[Outcome], now: float, since: float
    ) -> None:
        """Stores each recipient's outcome with the relay's own reply (R26)."""
        if not outcomes:
            return
        async with self.store.write() as tx:
            await _record(tx, Settle(relay, outcomes, since), now)

    async def next_due(self, campaign_id: int, now: float) -> tuple[float | None, float | None]:
        """(when the earliest free queued recipient is due, when the earliest lease ends)."""
        queued = and_(recipients.c.campaign_id == campaign_id, recipients.c.state == QUEUED)
        async with self.store.read() as conn:
            free = await conn.scalar(
                select(func.min(recipients.c.next_attempt)).where(
                    queued, recipients.c.lease_until < now
                )
            )
            leased = await conn.scalar(
                select(func.min(recipients.c.lease_until)).where(
                    queued, recipients.c.lease_until >= now
                )
            )
        return (
            float(free) if free is not None else None,
            float(leased) if leased is not None else None,
        )

    async def counts(self, campaign_id: int) -> dict[str, int]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(recipients.c.state, func.count())
                .where(recipients.c.campaign_id == campaign_id)
                .group_by(recipients.c.state)
            )
            return {r[0]: int(r[1]) for r in rows}

    async def recipients(self, campaign_id: int, limit: int | None = None) -> list[RecipientRow]:
        query = (
            select(recipients)
            .where(recipients.c.campaign_id == campaign_id)
            .order_by(recipients.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        async with self.store.read() as conn:
            return [_recipient_row(r) for r in await conn.execute(query)]

    # -- tokens: unsubscribe and bounces -------------------------------------
    async def by_token(self, token: str) -> RecipientRow | None:
        async with self.store.read() as conn:
            row = (
                await conn.execute(select(recipients).where(recipients.c.token == token))
            ).first()
        return _recipient_row(row) if row else None

    async def latest_for_email(self, email: str) -> RecipientRow | None:
        """The most recent message sent to `email` (a bounce that names only the address)."""
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    select(recipients)
                    .where(func.lower(recipients.c.email) == email.lower())
                    .order_by(recipients.c.updated.desc(), recipients.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _recipient_row(row) if row else None

    async def unsubscribe(self, token: str) -> bool:
        """Marks the contact behind `token` unsubscribed; False for an unknown token."""
        async with self.store.write() as tx:
            contact_id = await tx.scalar(
                select(recipients.c.contact_id).where(recipients.c.token == token)
            )
            if contact_id is None:
                return False
            await tx.execute(
                update(contacts).where(contacts.c.id == contact_id).values(unsubscribed=True)
            )
            await tx.execute(
                update(recipients)
                .where(
                    recipients.c.contact_id == contact_id,
                    recipients.c.state == QUEUED,
                )
                .values(state=FAILED, reply="unsubscribed before sending")
            )
        return True

    async def mark_bounce(
        self, recipient: RecipientRow | None, email: str, hard: bool, reply: str, now: float
    ) -> None:
        """A hard bounce marks the address bounced everywhere; a soft one is counted."""
        key = email.casefold()
        async with self.store.write() as tx:
            if hard:
                await tx.execute(
                    update(contacts).where(contacts.c.email_key == key).values(bounced=True)
                )
                await tx.execute(
                    update(recipients)
                    .where(func.lower(recipients.c.email) == email.lower(),
                           recipients.c.state == QUEUED)
                    .values(state=FAILED, reply="address bounced earlier")
                )  # fmt: skip
            else:
                target = contacts.c.email_key == key
                if recipient is not None:
                    target = contacts.c.id == recipient.contact_id
                await tx.execute(
                    update(contacts).where(target).values(soft_bounces=contacts.c.soft_bounces + 1)
                )
            if recipient is not None and hard:
                await tx.execute(
                    update(recipients)
                    .where(recipients.c.id == recipient.id)
                    .values(state=BOUNCED, reply=reply, updated=now)
                )

    # -- bounce mailboxes (R25) ----------------------------------------------
    async def add_bounce_box(self, name: str, **values: Any) -> None:
        async with self.store.write() as tx:
            await tx.execute(insert(bounce_boxes).values(name=name, **values))

    async def list_bounce_boxes(self) -> list[BounceBox]:
        async with self.store.read() as conn:
            rows = await conn.execute(select(bounce_boxes).order_by(bounce_boxes.c.name))
            return [
                BounceBox(**{f: getattr(r, f) for f in BounceBox.__dataclass_fields__})
                for r in rows
            ]

    async def remove_bounce_box(self, name: str) -> bool:
        async with self.store.write() as tx:
            result = await tx.execute(delete(bounce_boxes).where(bounce_boxes.c.name == name))
        return bool(result.rowcount)

    async def bounce_box_checked(self, name: str, now: float, result: str) -> None:
        async with self.store.write() as tx:
            await tx.execute(
                update(bounce_boxes)
                .where(bounce_boxes.c.name == name)
                .values(last_check=now, last_result=result)
            )


def _recipient_row(r: Any) -> RecipientRow:
    return RecipientRow(**{f: getattr(r, f) for f in RecipientRow.__dataclass_fields__})


async def _import_chunk(
    tx: AsyncConnection, list_id: int, chunk: Sequence[tuple[str, dict[str, str]]]
) -> tuple[int, int]:
    keys = [email.casefold() for email, _ in chunk]
    found = await tx.execute(
        select(contacts.c.id, contacts.c.email_key, contacts.c.fields).where(
            contacts.c.list_id == list_id, contacts.c.email_key.in_(keys)
        )
    )
    existing = {r.email_key: (r.id, _fields(r.fields)) for r in found}
    new_rows: dict[str, dict[str, Any]] = {}
    for email, columns in chunk:
        key = email.casefold()
        if key in existing:
            contact_id, merged = existing[key]
            merged.update({k: v for k, v in columns.items() if v != ""})
            existing[key] = (contact_id, merged)
        elif key in new_rows:
            fields = json.loads(new_rows[key]["fields"])
            fields.update({k: v for k, v in columns.items() if v != ""})
            new_rows[key]["fields"] = json.dumps(fields, ensure_ascii=False)
        else:
            new_rows[key] = {
                "list_id": list_id,
                "email": email,
                "email_key": key,
                "fields": json.dumps(columns, ensure_ascii=False),
            }
    merged_ids = {key for key in existing if key in set(keys)}
    for key in merged_ids:
        contact_id, merged_fields = existing[key]
        await tx.execute(
            update(contacts)
            .where(contacts.c.id == contact_id)
            .values(fields=json.dumps(merged_fields, ensure_ascii=False))
        )
    if new_rows:
        await tx.execute(insert(contacts), list(new_rows.values()))
    return len(new_rows), len(chunk) - len(new_rows)


async def _count_since(conn: AsyncConnection, relay_id: int, since: float) -> int:
    value = await conn.scalar(
        select(func.count())
        .select_from(sends)
        .where(sends.c.relay_id == relay_id, sends.c.at > since)
    )
    return int(value or 0)


async def _opens_at(
    conn: AsyncConnection, relay_id: int, now: float, window: float, count: int, limit: int
) -> float | None:
    """When the window's count falls below `limit` again (None: it is below now)."""
    if not limit or count < limit:
        return None
    at = await conn.scalar(
        select(sends.c.at)
        .where(sends.c.relay_id == relay_id, sends.c.at > now - window)
        .order_by(sends.c.at)
        .offset(count - limit)
        .limit(1)
    )
    return float(at) + window if at is not None else None


async def _quota(conn: AsyncConnection, relay: Relay, now: float) -> Quota:
    hour = await _count_since(conn, relay.id, now - HOUR)
    day = await _count_since(conn, relay.id, now - DAY)
    opens = [
        await _opens_at(conn, relay.id, now, HOUR, hour, relay.hourly_limit),
        await _opens_at(conn, relay.id, now, DAY, day, relay.daily_limit),
    ]
    waits = [t for t in opens if t is not None]
    return Quota(
        sent_hour=hour,
        sent_day=day,
        remaining_hour=max(0, relay.hourly_limit - hour) if relay.hourly_limit else None,
        remaining_day=max(0, relay.daily_limit - day) if relay.daily_limit else None,
        next_window=max(waits) if waits else None,
    )


async def _reserve(
    tx: AsyncConnection, dialect: str, relay: Relay, ids: list[int], now: float
) -> int:
    if dialect == "postgresql":
        # Serializes reservations for this relay across every node.
        await tx.execute(select(relays.c.id).where(relays.c.id == relay.id).with_for_update())
    granted = len(ids)
    if relay.hourly_limit or relay.daily_limit:
        quota = await _quota(tx, relay, now)
        room = quota.room
        granted = min(granted, room if room is not None else granted)
    if granted:
        await tx.execute(
            insert(sends),
            [{"relay_id": relay.id, "recipient_id": i, "at": now} for i in ids[:granted]],
        )
    return granted


async def _release(
    tx: AsyncConnection, relay: Relay, recipient_ids: Sequence[int], since: float
) -> None:
    for chunk in _chunks(list(recipient_ids)):
        await tx.execute(
            delete(sends).where(
                sends.c.relay_id == relay.id,
                sends.c.recipient_id.in_(chunk),
                sends.c.at >= since,
            )
        )


async def _unclaim(tx: AsyncConnection, recipient_ids: Sequence[int]) -> None:
    for chunk in _chunks(list(recipient_ids)):
        await tx.execute(
            update(recipients).where(recipients.c.id.in_(chunk)).values(owner="", lease_until=0.0)
        )


async def _claim(
    tx: AsyncConnection,
    dialect: str,
    campaign_id: int,
    relay: Relay,
    owner: str,
    want: int,
    now: float,
    lease: float,
) -> list[Claimed]:
    if want <= 0:
        return []
    due = (
        select(recipients.c.id)
        .where(
            recipients.c.campaign_id == campaign_id,
            recipients.c.state == QUEUED,
            recipients.c.next_attempt <= now,
            recipients.c.lease_until < now,
        )
        .order_by(recipients.c.next_attempt, recipients.c.id)
        .limit(want)
        .with_for_update(skip_locked=True)
    )
    ids = list((await tx.execute(due)).scalars())
    granted = await _reserve(tx, dialect, relay, ids, now) if ids else 0
    ids = ids[:granted]
    if not ids:
        return []
    await tx.execute(
        update(recipients)
        .where(recipients.c.id.in_(ids))
        .values(owner=owner, lease_until=now + lease)
    )
    query = (
        select(recipients, contacts.c.fields)
        .join(contacts, contacts.c.id == recipients.c.contact_id)
        .where(recipients.c.id.in_(ids))
        .order_by(recipients.c.next_attempt, recipients.c.id)
    )
    rows = await tx.execute(query)
    return [
        Claimed(r.id, r.campaign_id, r.email, r.token, r.attempts, _fields(r.fields)) for r in rows
    ]


_RECORD = (
    update(recipients)
    .where(recipients.c.id == bindparam("rid"))
    .values(
        state=bindparam("new_state"),
        reply=bindparam("new_reply"),
        next_attempt=bindparam("due"),
        relay_name=bindparam("relay"),
        updated=bindparam("now"),
        owner="",
        lease_until=0.0,
        attempts=recipients.c.attempts + 1,
    )
)


async def _record(tx: AsyncConnection, settle: Settle, now: float) -> None:
    """Outcomes stored; their reservations (made at `settle.since`) stamped `now`.

    `now` is when the relay had seen the messages, so the rolling windows count
    them from then on and never early. A relay without limits has no windows to
    keep: its reservations keep the claim's time (the status counts are the same).
    """
    relay = settle.relay
    rows = [
        {"rid": o.recipient_id, "new_state": o.state, "new_reply": o.reply,
         "due": o.next_attempt, "relay": relay.name, "now": now}
        for o in settle.outcomes
    ]  # fmt: skip
    if not rows:
        return
    await tx.execute(_RECORD, rows)
    if not (relay.hourly_limit or relay.daily_limit):
        return
    for chunk in _chunks([o.recipient_id for o in settle.outcomes]):
        await tx.execute(
            update(sends)
            .where(
                sends.c.relay_id == relay.id,
                sends.c.at >= settle.since,
                sends.c.at < now,
                sends.c.recipient_id.in_(chunk),
            )
            .values(at=now)
        )
