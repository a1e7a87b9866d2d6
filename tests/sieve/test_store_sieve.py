"""The store.sieve role on each backend: scripts, the one active script,
vacation's memory and the redirect rate limit."""

from __future__ import annotations

import pytest

from postfach.store import AlreadyExists, Store
from postfach.store.records import AccountId
from postfach.store.sieve_records import SieveScriptInfo


async def _account(store: Store) -> AccountId:
    await store.accounts.add_domain("example.org")
    return (await store.accounts.add_account("bob@example.org", "h")).id


async def test_scripts_and_the_active_one(store: Store) -> None:
    bob = await _account(store)
    assert await store.sieve.list_scripts(bob) == []
    assert await store.sieve.active_script(bob) is None
    await store.sieve.put_script(bob, "main", "keep;")
    await store.sieve.put_script(bob, "other", "discard; # äö")
    assert await store.sieve.set_active(bob, "main")
    await store.sieve.put_script(bob, "main", "stop;")  # replacing keeps it active
    assert await store.sieve.list_scripts(bob) == [
        SieveScriptInfo("main", True, 5),
        SieveScriptInfo("other", False, len("discard; # äö".encode())),
    ]
    assert await store.sieve.active_script(bob) == ("main", "stop;")
    assert await store.sieve.set_active(bob, "other")
    assert await store.sieve.active_script(bob) == ("other", "discard; # äö")
    assert [s.active for s in await store.sieve.list_scripts(bob)] == [False, True]
    assert not await store.sieve.set_active(bob, "missing")
    assert await store.sieve.active_script(bob) == ("other", "discard; # äö")

    with pytest.raises(AlreadyExists):
        await store.sieve.rename_script(bob, "other", "main")
    assert not await store.sieve.rename_script(bob, "missing", "x")
    assert await store.sieve.rename_script(bob, "other", "renamed")
    assert await store.sieve.active_script(bob) == ("renamed", "discard; # äö")
    assert await store.sieve.get_script(bob, "renamed") == "discard; # äö"
    assert await store.sieve.get_script(bob, "other") is None

    assert await store.sieve.set_active(bob, None)
    assert await store.sieve.active_script(bob) is None
    assert await store.sieve.delete_script(bob, "main")
    assert not await store.sieve.delete_script(bob, "main")
    assert [s.name for s in await store.sieve.list_scripts(bob)] == ["renamed"]


async def test_scripts_go_with_their_account(store: Store) -> None:
    bob = await _account(store)
    await store.sieve.put_script(bob, "main", "keep;")
    await store.sieve.vacation_seen(bob, "a@example.net", "", 7)
    await store.accounts.remove_account("bob@example.org")
    assert await store.sieve.list_scripts(bob) == []  # the rows went with the account
    again = (await store.accounts.add_account("bob@example.org", "h")).id
    assert await store.sieve.list_scripts(again) == []


async def test_vacation_once_per_sender_per_days(store: Store) -> None:
    bob = await _account(store)
    day = 86400.0
    assert not await store.sieve.vacation_seen(bob, "Alice@Example.net", "", 7, now=1000.0)
    assert await store.sieve.vacation_seen(bob, "alice@example.net", "", 7, now=1000.0 + day)
    # Another handle is another reply; another sender too.
    assert not await store.sieve.vacation_seen(bob, "alice@example.net", "h2", 7, now=1000.0)
    assert not await store.sieve.vacation_seen(bob, "carol@example.net", "", 7, now=1000.0)
    # After the days ran out, the sender is answered again, and then not for 7 more days.
    assert not await store.sieve.vacation_seen(bob, "alice@example.net", "", 7, now=1000 + 8 * day)
    assert await store.sieve.vacation_seen(bob, "alice@example.net", "", 7, now=1000 + 9 * day)
    assert await store.sieve.forget_vacation_replies(1000.0 + 30 * day) == 3


async def test_redirect_rate_limit(store: Store) -> None:
    bob = await _account(store)
    verdicts = [await store.sieve.redirect_allowed(bob, 3, 3600, now=7200.0 + i) for i in range(5)]
    assert verdicts == [True, True, True, False, False]
    # The next window starts afresh.
    assert await store.sieve.redirect_allowed(bob, 3, 3600, now=10800.0)
    assert not await store.sieve.redirect_allowed(bob, 0, 3600, now=20000.0)
