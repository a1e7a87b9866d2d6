"""The settings cache's own rules (store/settings_cache.py): nothing is kept
before the generation is known, a read that straddles a change is not kept,
this process's own write does not empty the whole cache, the size is bounded.
Over the wire: tests/spam/test_settings_cache_wire.py, tests/workers/."""

from __future__ import annotations

from postfach.store.records import AccountId
from postfach.store.settings_cache import SettingsCache, SpamEntry
from postfach.store.spam_records import SpamSettings

A, B = AccountId(1), AccountId(2)
ENTRY = SpamEntry(SpamSettings(file_threshold=3.0), 1, 2)


def test_nothing_is_kept_until_the_generation_is_known() -> None:
    cache = SettingsCache()
    cache.keep_spam(A, ENTRY, cache.epoch)
    assert cache.spam(A) is None
    cache.seen(7)
    cache.keep_spam(A, ENTRY, cache.epoch)
    assert cache.spam(A) == ENTRY
    cache.seen(None)  # the poll failed: changes may go unheard
    assert cache.spam(A) is None and not cache.enabled


def test_a_read_begun_before_a_change_is_not_kept() -> None:
    cache = SettingsCache()
    cache.seen(1)
    epoch = cache.epoch  # the read starts
    cache.drop(B)  # a change commits meanwhile (any account: the epoch is shared)
    cache.keep_sieve(A, ("old", "keep;"), epoch)
    assert cache.sieve(A) == (False, None)
    cache.keep_sieve(A, None, cache.epoch)
    assert cache.sieve(A) == (True, None)  # "no active script" is cached too


def test_own_writes_drop_one_account_and_foreign_ones_all() -> None:
    cache = SettingsCache()
    cache.seen(4)
    cache.keep_spam(A, ENTRY, cache.epoch)
    cache.keep_spam(B, ENTRY, cache.epoch)
    cache.wrote(A, 5)  # ours, the only change since the poll read 4
    assert cache.spam(A) is None and cache.spam(B) == ENTRY
    cache.seen(5)  # the poll sees our own generation: B stays
    assert cache.spam(B) == ENTRY
    cache.wrote(A, 7)  # another process made 6 meanwhile: the poll must empty it
    cache.seen(7)
    assert cache.spam(B) is None


def test_least_recently_used_go_first() -> None:
    cache = SettingsCache(capacity=2)
    cache.seen(0)
    for account in (A, B):
        cache.keep_spam(account, ENTRY, cache.epoch)
    assert cache.spam(A) == ENTRY  # A used: B is now the oldest
    cache.keep_spam(AccountId(3), ENTRY, cache.epoch)
    assert cache.spam(B) is None and cache.spam(A) == ENTRY and len(cache) == 2
