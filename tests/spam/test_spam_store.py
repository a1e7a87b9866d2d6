"""The spam role of the store (`store.spam`) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from postfach.store import NotFound, Store
from postfach.store.records import AccountId


async def _accounts(store: Store) -> tuple[AccountId, AccountId]:
    await store.accounts.add_domain("example.org")
    a = await store.accounts.add_account("a@example.org", "h")
    b = await store.accounts.add_account("b@example.org", "h")
    return a.id, b.id


async def test_learning_adds_up_per_account_and_across_recipients(store: Store) -> None:
    a, b = await _accounts(store)
    assert (await store.spam.token_counts([a], ["x"])).tokens == {}
    many = [f"t{i}" for i in range(1200)]  # more than one IN (...) list
    await asyncio.gather(
        store.spam.learn(a, ["pills", "cheap", *many], spam=True),
        store.spam.learn(a, ["pills", "agenda"], spam=True),
        store.spam.learn(a, ["agenda"], spam=False),
        store.spam.learn(b, ["pills"], spam=False),
    )
    counts = await store.spam.token_counts([a], ["pills", "agenda", "cheap", "none", *many])
    assert (counts.learnt_spam, counts.learnt_ham) == (2, 1)
    assert counts.tokens["pills"] == (2, 0) and counts.tokens["agenda"] == (1, 1)
    assert "none" not in counts.tokens and counts.tokens["t1199"] == (1, 0)
    both = await store.spam.token_counts([a, b, a], ["pills"])
    assert (both.learnt_spam, both.learnt_ham) == (2, 2)
    assert both.tokens["pills"] == (2, 1)


async def test_thresholds_and_sender_lists(store: Store) -> None:
    a, b = await _accounts(store)
    assert (await store.spam.settings(a)).file_threshold is None
    await store.spam.set_thresholds(a, 3.0, 9.0)
    await store.spam.set_sender(a, "Bob@Example.NET", "allow")
    await store.spam.set_sender(a, "ads.test", "allow")
    await store.spam.set_sender(a, "ads.test", "block")  # moved to the other list
    settings = await store.spam.settings(a)
    assert (settings.file_threshold, settings.reject_threshold) == (3.0, 9.0)
    assert settings.allow == {"bob@example.net"} and settings.block == {"ads.test"}
    assert (await store.spam.settings(b)).allow == frozenset()
    await store.spam.remove_sender(a, "ads.test")
    with pytest.raises(NotFound):
        await store.spam.remove_sender(a, "ads.test")
    with pytest.raises(NotFound):
        await store.spam.set_thresholds(AccountId(9999), 1.0, None)
    with pytest.raises(ValueError):
        await store.spam.set_sender(a, "x.test", "maybe")


async def test_removing_an_account_removes_its_spam_data(store: Store) -> None:
    a, _b = await _accounts(store)
    await store.spam.learn(a, ["pills"], spam=True)
    await store.spam.set_sender(a, "x.test", "block")
    await store.accounts.remove_account("a@example.org")
    again = await store.accounts.add_account("a@example.org", "h")
    assert (await store.spam.token_counts([again.id], ["pills"])).learnt_spam == 0
    assert (await store.spam.settings(again.id)).block == frozenset()


async def test_a_message_is_learnt_once_and_can_change_sides(store: Store) -> None:
    a, _b = await _accounts(store)
    assert await store.spam.learn(a, ["pills", "cheap"], spam=True, key="m1")
    assert not await store.spam.learn(a, ["pills", "cheap"], spam=True, key="m1")
    counts = await store.spam.token_counts([a], ["pills"])
    assert (counts.learnt_spam, counts.learnt_ham, counts.tokens["pills"]) == (1, 0, (1, 0))
    # Taken back out of Spam: what it taught as spam is taken back, and it is ham now.
    assert await store.spam.learn(a, ["pills", "cheap"], spam=False, key="m1")
    counts = await store.spam.token_counts([a], ["pills", "cheap"])
    assert (counts.learnt_spam, counts.learnt_ham) == (0, 1)
    assert counts.tokens == {"pills": (0, 1), "cheap": (0, 1)}
