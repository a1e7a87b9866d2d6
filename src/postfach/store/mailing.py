"""The mailing role (`store.mailing`), bulk mailing (R22–R26): relays, contacts,
campaigns, sends.

Owns the `mailing_relays`, `mailing_sends`, `mailing_lists`, `mailing_contacts`,
`mailing_campaigns`, `mailing_attachments`, `mailing_recipients` and
`mailing_bounce_boxes` tables (declared in store/schema.py and created by
`migrate`, like every table). The scheduler's two invariants live here, in
single transactions (the longer ones in store/mailing_sql.py):

- **Limits** (R24): every message a relay may send is first *reserved* as a row
  of `mailing_sends` stamped with the (injectable) clock. A reservation counts
  the relay's rows in the rolling hour and day and grants only what is left,
  under the relay row's lock on PostgreSQL (SQLite has one writer), so nodes
  sharing a database never overshoot together, and restarts lose no count.
- **Work sharing**: due recipients are claimed with a lease; on PostgreSQL the
  claim uses SKIP LOCKED so nodes take disjoint rows.

Passwords arrive here already encrypted (mailing/vault.py); the store never sees
plaintext and records hide the ciphertext from `repr` (store/mailing_records.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from postfach.store import mailing_sql
from postfach.store.base import Role, inserted_id
from postfach.store.mailing_records import (
    BOUNCED,
    DAY,
    FAILED,
    HOUR,
    QUEUED,
    SENT,
    BounceBox,
    Campaign,
    Claimed,
    Contact,
    Outcome,
    Quota,
    RecipientRow,
    Relay,
    Settle,
    new_token,
    parse_fields,
    to_recipient_row,
    to_relay,
)
from postfach.store.schema import (
    mailing_attachments as attachments,
)
from postfach.store.schema import (
    mailing_bounce_boxes as bounce_boxes,
)
from postfach.store.schema import (
    mailing_campaigns as campaigns,
)
from postfach.store.schema import (
    mailing_contacts as contacts,
)
from postfach.store.schema import (
    mailing_lists as lists,
)
from postfach.store.schema import (
    mailing_recipients as recipients,
)
from postfach.store.schema import (
    mailing_relays as relays,
)
from postfach.store.schema import (
    mailing_sends as sends,
)

__all__ = [
    "BOUNCED",
    "DAY",
    "FAILED",
    "HOUR",
    "QUEUED",
    "SENT",
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


class MailingStore(Role):
    """Relays, lists, campaigns and their sends; see `MailingApi` (store/api.py)."""

    # -- relays (R22) --------------------------------------------------------
    async def add_relay(self, name: str, now: float, **values: Any) -> Relay:
        async with self.write() as tx:
            if values.get("position") is None:
                top = await tx.scalar(select(func.max(relays.c.position)))
                values["position"] = int(top or 0) + 1
            await tx.execute(insert(relays).values(name=name, created=now, **values))
        relay = await self.get_relay(name)
        assert relay is not None
        return relay

    async def update_relay(self, name: str, **values: Any) -> bool:
        async with self.write() as tx:
            result = await tx.execute(update(relays).where(relays.c.name == name).values(**values))
        return bool(result.rowcount)

    async def get_relay(self, name: str) -> Relay | None:
        async with self.read() as conn:
            row = (await conn.execute(select(relays).where(relays.c.name == name))).first()
        return to_relay(row) if row else None

    async def list_relays(self) -> list[Relay]:
        """All relays in sending order."""
        async with self.read() as conn:
            rows = await conn.execute(select(relays).order_by(relays.c.position, relays.c.id))
            return [to_relay(r) for r in rows]

    async def remove_relay(self, name: str) -> bool:
        async with self.write() as tx:
            relay_id = await tx.scalar(select(relays.c.id).where(relays.c.name == name))
            if relay_id is None:
                return False
            await tx.execute(delete(sends).where(sends.c.relay_id == relay_id))
            await tx.execute(delete(relays).where(relays.c.id == relay_id))
        return True

    # -- limits (R24) --------------------------------------------------------
    async def quota(self, relay: Relay, now: float) -> Quota:
        async with self.read() as conn:
            return await mailing_sql.relay_quota(conn, relay, now)

    async def reserve(self, relay: Relay, recipient_ids: Sequence[int], now: float) -> int:
        """Counts `recipient_ids` (in order) against the relay; returns how many fit."""
        async with self.write() as tx:
            granted = await mailing_sql.reserve(tx, self.dialect, relay, list(recipient_ids), now)
        return granted

    async def forget_sends(self, before: float) -> None:
        async with self.write() as tx:
            await tx.execute(delete(sends).where(sends.c.at < before))

    # -- lists and contacts --------------------------------------------------
    async def ensure_list(self, name: str, now: float) -> int:
        async with self.write() as tx:
            found = await tx.scalar(select(lists.c.id).where(lists.c.name == name))
            if found is not None:
                return int(found)
            return inserted_id(await tx.execute(insert(lists).values(name=name, created=now)))

    async def get_list(self, name: str) -> int | None:
        async with self.read() as conn:
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
        async with self.read(offload=True) as conn:
            return [(r[0], int(r[1])) for r in await conn.execute(query)]

    async def import_contacts(
        self, list_id: int, rows: Sequence[tuple[str, dict[str, str]]]
    ) -> tuple[int, int]:
        """Adds contacts, merging columns into existing ones; returns (added, merged)."""
        added = merged = 0
        async with self.write() as tx:
            for chunk in mailing_sql.chunks(list(rows)):
                a, m = await mailing_sql.import_chunk(tx, list_id, chunk)
                added, merged = added + a, merged + m
        return added, merged

    async def list_contacts(self, list_id: int) -> list[Contact]:
        async with self.read(offload=True) as conn:
            rows = await conn.execute(
                select(contacts).where(contacts.c.list_id == list_id).order_by(contacts.c.id)
            )
            return [
                Contact(
                    r.id,
                    r.list_id,
                    r.email,
                    parse_fields(r.fields),
                    r.unsubscribed,
                    r.bounced,
                    r.soft_bounces,
                )  # fmt: skip
                for r in rows
            ]

    # -- campaigns -----------------------------------------------------------
    async def create_campaign(self, name: str, list_id: int, now: float, **values: Any) -> Campaign:
        async with self.write() as tx:
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
        async with self.read() as conn:
            row = (await conn.execute(select(campaigns).where(column == name))).first()
        if row is None:
            return None
        return Campaign(**{f: getattr(row, f) for f in Campaign.__dataclass_fields__})

    async def campaigns_in_state(self, state: str) -> list[Campaign]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(campaigns.c.name).where(campaigns.c.state == state).order_by(campaigns.c.id)
            )
            names = [r[0] for r in rows]
        found = [await self.get_campaign(n) for n in names]
        return [c for c in found if c is not None]

    async def set_campaign_state(self, campaign_id: int, state: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                update(campaigns).where(campaigns.c.id == campaign_id).values(state=state)
            )

    async def add_attachment(
        self, campaign_id: int, filename: str, content_type: str, data: bytes
    ) -> None:
        async with self.write() as tx:
            await tx.execute(
                insert(attachments).values(
                    campaign_id=campaign_id, filename=filename, content_type=content_type, data=data
                )
            )

    async def attachments(self, campaign_id: int) -> list[tuple[str, str, bytes]]:
        async with self.read() as conn:
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
        async with self.write() as tx:
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
            for chunk in mailing_sql.chunks(values, 5000):
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
        async with self.write() as tx:
            if settle is not None:
                await mailing_sql.record(tx, settle, now)
            return await mailing_sql.claim(
                tx, self.dialect, campaign_id, relay, owner, want, now, lease
            )

    async def unclaim(self, recipient_ids: Sequence[int]) -> None:
        if not recipient_ids:
            return
        async with self.write() as tx:
            await mailing_sql.unclaim(tx, recipient_ids)

    async def give_back(
        self, relay: Relay, unreserve: Sequence[int], unclaim: Sequence[int], since: float
    ) -> None:
        """Reservations (made at `since`) and claims of messages that never reached the relay."""
        if not unreserve and not unclaim:
            return
        async with self.write() as tx:
            await mailing_sql.release(tx, relay, unreserve, since)
            await mailing_sql.unclaim(tx, unclaim)

    async def record(
        self, relay: Relay, outcomes: Sequence[Outcome], now: float, since: float
    ) -> None:
        """Stores each recipient's outcome with the relay's own reply (R26)."""
        if not outcomes:
            return
        async with self.write() as tx:
            await mailing_sql.record(tx, Settle(relay, outcomes, since), now)

    async def next_due(self, campaign_id: int, now: float) -> tuple[float | None, float | None]:
        """(when the earliest free queued recipient is due, when the earliest lease ends)."""
        queued = and_(recipients.c.campaign_id == campaign_id, recipients.c.state == QUEUED)
        async with self.read() as conn:
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
        async with self.read(offload=True) as conn:
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
        async with self.read(offload=True) as conn:
            return [to_recipient_row(r) for r in await conn.execute(query)]

    # -- tokens: unsubscribe and bounces -------------------------------------
    async def by_token(self, token: str) -> RecipientRow | None:
        async with self.read() as conn:
            row = (
                await conn.execute(select(recipients).where(recipients.c.token == token))
            ).first()
        return to_recipient_row(row) if row else None

    async def latest_for_email(self, email: str) -> RecipientRow | None:
        """The most recent message sent to `email` (a bounce that names only the address)."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(recipients)
                    .where(func.lower(recipients.c.email) == email.lower())
                    .order_by(recipients.c.updated.desc(), recipients.c.id.desc())
                    .limit(1)
                )
            ).first()
        return to_recipient_row(row) if row else None

    async def unsubscribe(self, token: str) -> bool:
        """Marks the contact behind `token` unsubscribed; False for an unknown token."""
        async with self.write() as tx:
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
        async with self.write() as tx:
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
        async with self.write() as tx:
            await tx.execute(insert(bounce_boxes).values(name=name, **values))

    async def list_bounce_boxes(self) -> list[BounceBox]:
        async with self.read() as conn:
            rows = await conn.execute(select(bounce_boxes).order_by(bounce_boxes.c.name))
            return [
                BounceBox(**{f: getattr(r, f) for f in BounceBox.__dataclass_fields__})
                for r in rows
            ]

    async def remove_bounce_box(self, name: str) -> bool:
        async with self.write() as tx:
            result = await tx.execute(delete(bounce_boxes).where(bounce_boxes.c.name == name))
        return bool(result.rowcount)

    async def bounce_box_checked(self, name: str, now: float, result: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                update(bounce_boxes)
                .where(bounce_boxes.c.name == name)
                .values(last_check=now, last_result=result)
            )
