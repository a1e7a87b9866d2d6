"""store.greylist on SQLite and PostgreSQL: first attempt refused, a retry after
the delay passes, a known triplet passes at once until it expires."""

from __future__ import annotations

import asyncio
import time

from postfach.store import Store

TRIPLET = ("192.0.2.0/24", "bob@sender.test", "alice@example.org")


async def test_greylist_triplets(store: Store) -> None:
    greylist = store.greylist
    assert not await greylist.passes(*TRIPLET, delay=0.3, expire=60)
    assert not await greylist.passes(*TRIPLET, delay=0.3, expire=60)  # still too soon
    other = ("192.0.2.0/24", "", "alice@example.org")  # a bounce: its own triplet
    assert not await greylist.passes(*other, delay=0.3, expire=60)
    await asyncio.sleep(0.35)
    assert await greylist.passes(*TRIPLET, delay=0.3, expire=60)
    assert await greylist.passes(*TRIPLET, delay=1000, expire=60)  # known: passes at once
    assert await greylist.passes("198.51.100.0/24", "a@b.test", "c@d.test", delay=0, expire=60)


async def test_expired_triplets_start_over_and_are_forgotten(store: Store) -> None:
    # The retry must come after `delay` and before `expire`: a whole second of room,
    # as a busy machine can take longer than the sleep over one store call.
    greylist = store.greylist
    assert not await greylist.passes(*TRIPLET, delay=0.1, expire=1.0)
    await asyncio.sleep(0.15)
    assert await greylist.passes(*TRIPLET, delay=0.1, expire=1.0)
    await asyncio.sleep(1.05)
    assert not await greylist.passes(*TRIPLET, delay=0.1, expire=1.0)  # unseen too long
    assert await greylist.forget_greylist(time.time() + 1) == 1
    assert await greylist.forget_greylist(time.time() + 1) == 0
