"""The mailing role's transactions too long to sit in its class (store/mailing.py):
contact import, the relay limits (reserve, release, quota) and the claim and
settling of recipients. Each takes the open transaction; the role commits.

Owns no table of its own: it works on the mailing tables of store/mailing.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from postfach.store.mailing_records import (
    DAY,
    HOUR,
    QUEUED,
    Claimed,
    Quota,
    Relay,
    Settle,
    parse_fields,
)
from postfach.store.schema import (
    mailing_contacts as contacts,
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
    "chunks",
    "claim",
    "count_since",
    "import_chunk",
    "opens_at",
    "relay_quota",
    "record",
    "release",
    "reserve",
    "unclaim",
]

def chunks(items: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def import_chunk(
    tx: AsyncConnection, list_id: int, chunk: Sequence[tuple[str, dict[str, str]]]
) -> tuple[int, int]:
    keys = [email.casefold() for email, _ in chunk]
    found = await tx.execute(
        select(contacts.c.id, contacts.c.email_key, contacts.c.fields).where(
            contacts.c.list_id == list_id, contacts.c.email_key.in_(keys)
        )
    )
    existing = {r.email_key: (r.id, parse_fields(r.fields)) for r in found}
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


async def count_since(conn: AsyncConnection, relay_id: int, since: float) -> int:
    value = await conn.scalar(
        select(func.count())
        .select_from(sends)
        .where(sends.c.relay_id == relay_id, sends.c.at > since)
    )
    return int(value or 0)


async def opens_at(
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


async def relay_quota(conn: AsyncConnection, relay: Relay, now: float) -> Quota:
    hour = await count_since(conn, relay.id, now - HOUR)
    day = await count_since(conn, relay.id, now - DAY)
    opens = [
        await opens_at(conn, relay.id, now, HOUR, hour, relay.hourly_limit),
        await opens_at(conn, relay.id, now, DAY, day, relay.daily_limit),
    ]
    waits = [t for t in opens if t is not None]
    return Quota(
        sent_hour=hour,
        sent_day=day,
        remaining_hour=max(0, relay.hourly_limit - hour) if relay.hourly_limit else None,
        remaining_day=max(0, relay.daily_limit - day) if relay.daily_limit else None,
        next_window=max(waits) if waits else None,
    )


async def reserve(
    tx: AsyncConnection, dialect: str, relay: Relay, ids: list[int], now: float
) -> int:
    if dialect == "postgresql":
        # Serializes reservations for this relay across every node.
        await tx.execute(select(relays.c.id).where(relays.c.id == relay.id).with_for_update())
    granted = len(ids)
    if relay.hourly_limit or relay.daily_limit:
        quota = await relay_quota(tx, relay, now)
        room = quota.room
        granted = min(granted, room if room is not None else granted)
    if granted:
        await tx.execute(
            insert(sends),
            [{"relay_id": relay.id, "recipient_id": i, "at": now} for i in ids[:granted]],
        )
    return granted


async def release(
    tx: AsyncConnection, relay: Relay, recipient_ids: Sequence[int], since: float
) -> None:
    for chunk in chunks(list(recipient_ids)):
        await tx.execute(
            delete(sends).where(
                sends.c.relay_id == relay.id,
                sends.c.recipient_id.in_(chunk),
                sends.c.at >= since,
            )
        )


async def unclaim(tx: AsyncConnection, recipient_ids: Sequence[int]) -> None:
    for chunk in chunks(list(recipient_ids)):
        await tx.execute(
            update(recipients).where(recipients.c.id.in_(chunk)).values(owner="", lease_until=0.0)
        )


async def claim(
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
    granted = await reserve(tx, dialect, relay, ids, now) if ids else 0
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
        Claimed(r.id, r.campaign_id, r.email, r.token, r.attempts, parse_fields(r.fields))
        for r in rows
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


async def record(tx: AsyncConnection, settle: Settle, now: float) -> None:
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
    for chunk in chunks([o.recipient_id for o in settle.outcomes]):
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
