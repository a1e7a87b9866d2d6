"""Queue leases in the store: small claims, renewal, expiry, and no row left behind."""

from __future__ import annotations

import asyncio
import time

from postfach.store import Store
from postfach.store.queue import QUEUED, SENT, NewQueueRecipient, QueueAttempt

RAW = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"


async def _queue(store: Store, count: int, domain: str = "example.net") -> None:
    for n in range(count):
        await store.queue.insert("a@example.org", [NewQueueRecipient(f"r{n}@{domain}")], RAW)


async def test_a_claim_takes_its_batch_of_one_domain(store: Store) -> None:
    await _queue(store, 25)
    await _queue(store, 3, "example.com")
    assert sorted(await store.queue.due_domains()) == ["example.com", "example.net"]
    first = await store.queue.claim("node-a", 30.0, 10, "example.net")
    second = await store.queue.claim("node-b", 30.0, 10, "example.net")
    assert len(first) == len(second) == 10
    assert not {i.id for i in first} & {i.id for i in second}
    assert {i.domain for i in first + second} == {"example.net"}
    entries = await store.queue.entries()
    now = time.time()
    in_flight = [r for e in entries for r in e.recipients if r.in_flight(now)]
    assert len(in_flight) == 20
    assert {r.owner for r in in_flight} == {"node-a", "node-b"}


async def test_a_renewed_lease_holds_an_expired_one_frees(store: Store) -> None:
    await _queue(store, 2)
    kept = await store.queue.claim("node-a", 0.3, 1)
    lost = await store.queue.claim("node-a", 0.3, 1)
    assert await store.queue.renew("node-a", [kept[0].id], 30.0) == 1
    assert await store.queue.renew("node-b", [lost[0].id], 30.0) == 0  # not its lease
    await asyncio.sleep(0.4)
    taken = await store.queue.claim("node-b", 30.0, 10)
    assert [i.id for i in taken] == [lost[0].id]


async def test_the_last_outcome_removes_the_message(store: Store) -> None:
    message_id = await store.queue.insert(
        "a@example.org",
        [NewQueueRecipient("x@example.net"), NewQueueRecipient("y@example.net")],
        RAW,
    )
    first, second = await store.queue.claim("node-a", 30.0, 10)
    await store.queue.finish([QueueAttempt(first.id, SENT, "250 ok")])
    [entry] = await store.queue.entries()
    assert [r.status for r in entry.recipients] == [SENT, QUEUED]
    await store.queue.finish([QueueAttempt(second.id, SENT, "250 ok")])
    assert await store.queue.entries() == []
    assert await store.queue.message(message_id) is None
