"""A per-process cache of what every delivery asks of an account: its spam
settings (thresholds, allow and block lists), how many messages its classifier
learnt as spam and as ham, and its active Sieve script.

Without it each message paid a few SELECTs per recipient for data that changes
a handful of times a day. How stale an entry can be:

- a write through this process drops the account's entry as it commits;
- the other workers of the server and the other nodes hear of it at once
  through the hub (ChangeAccountSettings: the supervisor's relay on SQLite,
  NOTIFY on PostgreSQL);
- for what the hub does not carry (the CLI is another process and has no
  relay on SQLite; notifications are lost while a PostgreSQL listener
  reconnects) every such write also bumps one counter, the `settings_gen` row
  of `meta`, in its transaction; each serving process reads it every
  `POLL_INTERVAL` (0.5 s) and empties its cache when it moved. So a change made
  anywhere applies here within 0.5 s at most, usually at once.

Only a process that polls caches (`enable` is called by the poll's first read):
the CLI, tests and tools that open a store without the change feed read the
database every time, as before. Entries are bounded (`CAPACITY` accounts, least
recently used go first).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, cast, insert, select, update

from postfach.store.records import AccountId
from postfach.store.schema import meta
from postfach.store.spam_records import SpamSettings

__all__ = [
    "CAPACITY",
    "GENERATION_KEY",
    "POLL_INTERVAL",
    "READ_GENERATION",
    "SettingsCache",
    "SpamEntry",
    "bump_generation",
    "ensure_generation",
    "poll_generation",
]

log = logging.getLogger(__name__)

CAPACITY = 10_000  # accounts per kind of entry; a few hundred bytes each, a script more
POLL_INTERVAL = 0.5
GENERATION_KEY = "settings_gen"
# With a named parameter: StoreBase.fetch takes them by name (key=GENERATION_KEY).
READ_GENERATION = select(meta.c.value).where(meta.c.key == bindparam("key"))

SieveEntry = tuple[str, str] | None  # the active script's (name, text), or none active


@dataclass(frozen=True, slots=True)
class SpamEntry:
    """The spam_accounts row and sender lists of one account."""

    settings: SpamSettings
    learnt_spam: int
    learnt_ham: int


class SettingsCache:
    """The entries of one process. A read that began before a drop does not
    store what it read (the epoch moved meanwhile): it may have seen the old row."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._spam: OrderedDict[AccountId, SpamEntry] = OrderedDict()
        self._sieve: OrderedDict[AccountId, SieveEntry] = OrderedDict()
        self.epoch = 0
        # The settings generation last read; None: not polling (or the poll
        # failed), and nothing is cached.
        self.generation: int | None = None

    @property
    def enabled(self) -> bool:
        return self.generation is not None

    def spam(self, account_id: AccountId) -> SpamEntry | None:
        entry = self._spam.get(account_id)
        if entry is not None:
            self._spam.move_to_end(account_id)
        return entry

    def keep_spam(self, account_id: AccountId, entry: SpamEntry, epoch: int) -> None:
        if self.enabled and epoch == self.epoch:
            _keep(self._spam, account_id, entry, self._capacity)

    def sieve(self, account_id: AccountId) -> tuple[bool, SieveEntry]:
        """(True, entry) when cached; (False, None) when not."""
        if account_id not in self._sieve:
            return False, None
        self._sieve.move_to_end(account_id)
        return True, self._sieve[account_id]

    def keep_sieve(self, account_id: AccountId, entry: SieveEntry, epoch: int) -> None:
        if self.enabled and epoch == self.epoch:
            _keep(self._sieve, account_id, entry, self._capacity)

    def drop(self, account_id: AccountId) -> None:
        """The account's settings changed (here, or elsewhere and the hub said so)."""
        self.epoch += 1
        self._spam.pop(account_id, None)
        self._sieve.pop(account_id, None)

    def clear(self) -> None:
        self.epoch += 1
        self._spam.clear()
        self._sieve.clear()

    def wrote(self, account_id: AccountId, generation: int) -> None:
        """This process committed a settings write that made `generation`: when it
        was the only change since the last poll, the poll need not empty the cache."""
        self.drop(account_id)
        if self.generation is not None and self.generation == generation - 1:
            self.generation = generation

    def seen(self, generation: int | None) -> None:
        """The poll read `generation` (None: it could not read it)."""
        if generation != self.generation:
            self.clear()
            self.generation = generation

    def __len__(self) -> int:
        return len(self._spam) + len(self._sieve)


def _keep(entries: OrderedDict[AccountId, Any], key: AccountId, value: Any, cap: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > cap:
        entries.popitem(last=False)


async def bump_generation(tx: Any) -> int:
    """Called in the transaction of every write the cache holds: the new generation."""
    column = meta.c.value
    value = await tx.scalar(
        update(meta)
        .where(meta.c.key == GENERATION_KEY)
        .values(value=cast(cast(column, BigInteger) + 1, Text))
        .returning(column)
    )
    if value is None:  # a database migrated by a version without the row
        await ensure_generation(tx)
        return await bump_generation(tx)
    return int(value)


async def ensure_generation(tx: Any) -> None:
    """The counter's row, made by `migrate` (store/base.py)."""
    if await tx.scalar(READ_GENERATION, {"key": GENERATION_KEY}) is None:
        await tx.execute(insert(meta).values(key=GENERATION_KEY, value="0"))


async def poll_generation(
    read: Callable[[], Awaitable[int | None]],
    cache: SettingsCache,
    interval: float = POLL_INTERVAL,
) -> None:
    """Empties the cache when another process changed settings (see the module's
    docstring); runs for as long as the server does. A failed read turns caching
    off until a read succeeds: changes could be missed meanwhile."""
    failing = False
    while True:
        try:
            cache.seen(await read())
            failing = False
        except Exception as exc:
            if not failing:
                log.warning("settings generation unreadable, caching off: %s", exc)
            failing = True
            cache.seen(None)
        await asyncio.sleep(interval)
