"""The queue role (`store.queue`), the outbound queue (R21): messages waiting to leave.

Owns the `queue_messages`, `queue_recipients` and `queue_delay_notices` tables.

One row per message (its bytes, envelope sender and DSN envelope parameters)
and one per recipient (its state, attempts, next attempt and last reply). Queue
workers claim due recipients with a lease, so several nodes share the work; on
PostgreSQL the claim uses SKIP LOCKED. A message row goes in the transaction
that records its last queued recipient's outcome. A third table remembers
which messages already had their one "delayed" report (RFC 3461 §4.1
NOTIFY=DELAY); it is a table of its own so that databases made before it need
no migration. `QueueStore` is the store's `queue` role (`store.queue`).

A lease is short (`server.lease_time`) and the node renews it while the
delivery runs (`queue_renew`), so mail a dead node held is due again soon; a
worker leases only what it is about to send, a small batch per connection.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from postfach.store.base import Role
from postfach.store.events import QUEUE_WATCH, ChangeQueued
from postfach.store.queue_records import (
    FAILED,
    QUEUED,
    SENT,
    NewQueueRecipient,
    QueueAttempt,
    QueueEntry,
    QueueItem,
    QueueMessage,
)
from postfach.store.schema import queue_delay_notices, queue_messages, queue_recipients

__all__ = [
    "FAILED",
    "QUEUED",
    "SENT",
    "NewQueueRecipient",
    "QueueAttempt",
    "QueueEntry",
    "QueueItem",
    "QueueMessage",
    "QueueStore",
    "queue_delay_notices",
    "queue_messages",
    "queue_recipients",
]

def _item(row: Any) -> QueueItem:
    notify = frozenset(row.notify.split(",")) if row.notify else None
    orcpt_type, _, orcpt_addr = row.orcpt.partition(";")
    return QueueItem(
        id=row.id,
        message_id=row.message_id,
        address=row.address,
        domain=row.domain,
        notify=notify,
        orcpt=(orcpt_type, orcpt_addr) if row.orcpt else None,
        status=row.status,
        attempts=row.attempts,
        next_attempt=row.next_attempt,
        last_error=row.last_error,
        owner=row.owner,
        lease_until=row.lease_until,
    )


class QueueStore(Role):
    """The outbound queue; see `QueueApi` (store/api.py) for the contract."""

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
        now = time.time()
        async with self.write() as tx:
            result = await tx.execute(
                insert(queue_messages).values(
                    sender=sender, envid=envid, ret=ret, raw=raw, size=len(raw), created=now
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            message_id = int(key[0])
            await tx.execute(
                insert(queue_recipients),
                [_recipient_row(message_id, r, now) for r in recipients],
            )
        self.hub.publish(QUEUE_WATCH, [ChangeQueued()])
        return message_id

    async def due_domains(self, limit: int = 100) -> list[str]:
        """Domains with recipients due and leased by nobody, longest waiting first."""
        now = time.time()
        async with self.read() as conn:
            rows = await conn.execute(
                select(queue_recipients.c.domain)
                .where(*_due(now))
                .group_by(queue_recipients.c.domain)
                .order_by(func.min(queue_recipients.c.next_attempt))
                .limit(limit)
            )
            return [str(domain) for domain in rows.scalars()]

    async def claim(
        self, owner: str, lease: float, limit: int = 100, domain: str | None = None
    ) -> list[QueueItem]:
        """Takes up to `limit` due recipients (of `domain`, if given) for `lease` seconds."""
        now = time.time()
        condition = _due(now)
        if domain is not None:
            condition.append(queue_recipients.c.domain == domain)
        async with self.write() as tx:
            due = (
                select(queue_recipients.c.id)
                .where(*condition)
                .order_by(queue_recipients.c.next_attempt, queue_recipients.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await tx.execute(due)).scalars())
            if not ids:
                return []
            await tx.execute(
                update(queue_recipients)
                .where(queue_recipients.c.id.in_(ids))
                .values(owner=owner, lease_until=now + lease)
            )
            rows = await tx.execute(
                select(queue_recipients)
                .where(queue_recipients.c.id.in_(ids))
                .order_by(queue_recipients.c.next_attempt, queue_recipients.c.id)
            )
            return [_item(row) for row in rows]

    async def renew(self, owner: str, recipient_ids: Sequence[int], lease: float) -> int:
        """Extends `owner`'s lease on recipients it is still delivering; returns how many."""
        if not recipient_ids:
            return 0
        async with self.write() as tx:
            result = await tx.execute(
                update(queue_recipients)
                .where(
                    queue_recipients.c.id.in_(list(recipient_ids)),
                    queue_recipients.c.owner == owner,
                    queue_recipients.c.status == QUEUED,
                )
                .values(lease_until=time.time() + lease)
            )
        return int(result.rowcount or 0)

    async def message(self, message_id: int) -> QueueMessage | None:
        async with self.read() as conn:
            row = (
                await conn.execute(select(queue_messages).where(queue_messages.c.id == message_id))
            ).first()
        if row is None:
            return None
        return QueueMessage(
            row.id, row.sender, row.envid, row.ret, bytes(row.raw), row.size, row.created
        )

    async def finish(self, attempts: Sequence[QueueAttempt]) -> None:
        """Records attempts, all in one transaction. A message none of whose
        recipients is queued any more goes in it too: a node killed right after
        must not leave it behind."""
        if not attempts:
            return
        async with self.write() as tx:
            for attempt in attempts:
                await tx.execute(
                    update(queue_recipients)
                    .where(queue_recipients.c.id == attempt.recipient_id)
                    .values(**_attempt_values(attempt))
                )
            ids = [a.recipient_id for a in attempts if a.status != QUEUED]
            if ids:
                of = select(queue_recipients.c.message_id).where(queue_recipients.c.id.in_(ids))
                await _delete_done(tx, list(set((await tx.execute(of)).scalars())))

    async def recipients_of(self, message_id: int) -> list[QueueItem]:
        """Every recipient row of one message, in the order they were queued."""
        async with self.read() as conn:
            rows = await conn.execute(
                select(queue_recipients)
                .where(queue_recipients.c.message_id == message_id)
                .order_by(queue_recipients.c.id)
            )
            return [_item(row) for row in rows]

    async def claim_delay_notice(self, message_id: int) -> bool:
        """True exactly once per message: whoever gets it sends the "delayed" report."""
        try:
            async with self.write() as tx:
                seen = await tx.scalar(
                    select(func.count())
                    .select_from(queue_delay_notices)
                    .where(queue_delay_notices.c.message_id == message_id)
                )
                if seen:
                    return False
                await tx.execute(
                    insert(queue_delay_notices).values(message_id=message_id, sent=time.time())
                )
        except IntegrityError:
            return False  # another node was first, or the message is gone
        return True

    async def entries(self) -> list[QueueEntry]:
        async with self.read(offload=True) as conn:
            messages = (
                await conn.execute(
                    select(
                        queue_messages.c.id,
                        queue_messages.c.sender,
                        queue_messages.c.size,
                        queue_messages.c.created,
                    ).order_by(queue_messages.c.id)
                )
            ).all()
            rows = (
                await conn.execute(select(queue_recipients).order_by(queue_recipients.c.id))
            ).all()
        by_message: dict[int, list[QueueItem]] = {}
        for row in rows:
            by_message.setdefault(row.message_id, []).append(_item(row))
        return [
            QueueEntry(m.id, m.sender, m.size, m.created, tuple(by_message.get(m.id, ())))
            for m in messages
        ]

    async def retry(self, message_id: int | None = None) -> int:
        """Makes queued recipients due now (of one message, or all); returns how many."""
        condition = [queue_recipients.c.status == QUEUED]
        if message_id is not None:
            condition.append(queue_recipients.c.message_id == message_id)
        async with self.write() as tx:
            result = await tx.execute(
                # Leases stay: a recipient on the wire now must not go out twice.
                update(queue_recipients).where(*condition).values(next_attempt=0.0)
            )
        self.hub.publish(QUEUE_WATCH, [ChangeQueued()])
        return int(result.rowcount or 0)

    async def delete(self, message_id: int) -> bool:
        async with self.write() as tx:
            await tx.execute(
                delete(queue_recipients).where(queue_recipients.c.message_id == message_id)
            )
            await tx.execute(
                delete(queue_delay_notices).where(queue_delay_notices.c.message_id == message_id)
            )
            result = await tx.execute(
                delete(queue_messages).where(queue_messages.c.id == message_id)
            )
        return bool(result.rowcount)

    async def depth(self) -> tuple[int, float | None]:
        """Recipients still queued, and when the oldest message among them was made."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(queue_messages.c.created))
                    .select_from(
                        queue_recipients.join(
                            queue_messages, queue_messages.c.id == queue_recipients.c.message_id
                        )
                    )
                    .where(queue_recipients.c.status == QUEUED)
                )
            ).one()
        return int(row[0] or 0), float(row[1]) if row[1] is not None else None

    async def size(self) -> int:
        async with self.read() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(queue_recipients)
                .where(queue_recipients.c.status == QUEUED)
            )
        return int(count or 0)


def _attempt_values(attempt: QueueAttempt) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": attempt.status,
        "attempts": queue_recipients.c.attempts + 1,
        "last_error": attempt.error,
        "owner": "",
        "lease_until": 0.0,
    }
    if attempt.next_attempt is not None:
        values["next_attempt"] = attempt.next_attempt
    return values


async def _delete_done(tx: AsyncConnection, message_ids: Sequence[int]) -> list[int]:
    """Deletes those of the messages none of whose recipients is still queued."""
    pending = select(queue_recipients.c.message_id).where(
        queue_recipients.c.message_id.in_(list(message_ids)),
        queue_recipients.c.status == QUEUED,
    )
    busy = set((await tx.execute(pending)).scalars())
    done = [m for m in message_ids if m not in busy]
    if done:
        await tx.execute(delete(queue_recipients).where(queue_recipients.c.message_id.in_(done)))
        await tx.execute(
            delete(queue_delay_notices).where(queue_delay_notices.c.message_id.in_(done))
        )
        await tx.execute(delete(queue_messages).where(queue_messages.c.id.in_(done)))
    return done


def _due(now: float) -> list[Any]:
    """Recipients to try now: queued, their time come, and no node's lease on them."""
    return [
        queue_recipients.c.status == QUEUED,
        queue_recipients.c.next_attempt <= now,
        queue_recipients.c.lease_until < now,
    ]


def _recipient_row(message_id: int, recipient: NewQueueRecipient, now: float) -> dict[str, Any]:
    orcpt = f"{recipient.orcpt[0]};{recipient.orcpt[1]}" if recipient.orcpt else ""
    return {
        "message_id": message_id,
        "address": recipient.address,
        "domain": recipient.address.rpartition("@")[2].lower(),
        "notify": ",".join(sorted(recipient.notify)) if recipient.notify else "",
        "orcpt": orcpt,
        "status": QUEUED,
        "attempts": 0,
        "next_attempt": now,
        "last_error": "",
        "owner": "",
        "lease_until": 0.0,
    }
