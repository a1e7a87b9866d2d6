"""The spam role (`store.spam`): per-account thresholds, sender lists and the
classifier's token counts.

Owns the `spam_accounts`, `spam_tokens`, `spam_learnt` and `spam_senders`
tables. Counts are added with one upsert per learnt message (INSERT ... ON
CONFLICT DO UPDATE on both dialects), so concurrent learning from two sessions
adds up. A message learnt before (by its key) is not counted twice; learnt
before as the other kind, its old counts are taken back first.

An account's settings and learnt totals, which every message to it asks for,
come from the process's settings cache (settings_cache.py); every write to them
bumps the settings generation in its transaction and publishes
ChangeAccountSettings after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postfach.store.base import Role
from postfach.store.errors import NotFound
from postfach.store.records import AccountId
from postfach.store.schema import (
    accounts,
    spam_accounts,
    spam_learnt,
    spam_senders,
    spam_tokens,
)
from postfach.store.settings_cache import SpamEntry, bump_generation
from postfach.store.spam_records import SpamSettings, TokenCounts

__all__ = ["SENDER_KINDS", "SpamStore"]

SENDER_KINDS = ("allow", "block")
_LOOKUP_CHUNK = 500  # tokens per IN (...) list: well under every driver's parameter limit


class SpamStore(Role):
    """See `SpamApi` (store/api.py)."""

    def _insert(self) -> Any:
        return pg_insert if self.dialect == "postgresql" else sqlite_insert

    # -- settings ------------------------------------------------------------
    async def settings(self, account_id: AccountId) -> SpamSettings:
        return (await self._entry(account_id)).settings

    async def _entry(self, account_id: AccountId) -> SpamEntry:
        cache = self.settings_cache
        entry = cache.spam(account_id)
        if entry is not None:
            return entry
        epoch = cache.epoch
        c = spam_accounts.c
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(c.file_threshold, c.reject_threshold, c.learnt_spam, c.learnt_ham).where(
                        c.account_id == account_id
                    )
                )
            ).first()
            senders = (
                await conn.execute(
                    select(spam_senders.c.entry, spam_senders.c.kind).where(
                        spam_senders.c.account_id == account_id
                    )
                )
            ).all()
        allow = frozenset(e for e, kind in senders if kind == "allow")
        block = frozenset(e for e, kind in senders if kind == "block")
        if row is None:
            entry = SpamEntry(SpamSettings(allow=allow, block=block), 0, 0)
        else:
            settings = SpamSettings(row.file_threshold, row.reject_threshold, allow, block)
            entry = SpamEntry(settings, int(row.learnt_spam), int(row.learnt_ham))
        cache.keep_spam(account_id, entry, epoch)
        return entry

    async def set_thresholds(
        self, account_id: AccountId, file_threshold: float | None, reject_threshold: float | None
    ) -> None:
        """None: the server's threshold applies."""
        values = {"file_threshold": file_threshold, "reject_threshold": reject_threshold}
        async with self.write() as tx:
            await self._ensure_row(tx, account_id)
            await tx.execute(
                update(spam_accounts).where(spam_accounts.c.account_id == account_id).values(values)
            )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)

    async def set_sender(self, account_id: AccountId, entry: str, kind: str) -> None:
        """Puts an address or domain on the allow or the block list (off the other)."""
        if kind not in SENDER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SENDER_KINDS)}")
        entry = entry.strip().lower()
        stmt = self._insert()(spam_senders).values(account_id=account_id, entry=entry, kind=kind)
        async with self.write() as tx:
            await _must_exist(tx, account_id)
            await tx.execute(
                stmt.on_conflict_do_update(
                    index_elements=["account_id", "entry"], set_={"kind": kind}
                )
            )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)

    async def remove_sender(self, account_id: AccountId, entry: str) -> None:
        async with self.write() as tx:
            result = await tx.execute(
                delete(spam_senders).where(
                    spam_senders.c.account_id == account_id,
                    spam_senders.c.entry == entry.strip().lower(),
                )
            )
            if not result.rowcount:
                raise NotFound(f"{entry!r} is on neither list")
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)

    # -- the classifier --------------------------------------------------------
    async def learnt_totals(self, account_ids: Sequence[AccountId]) -> tuple[int, int]:
        spam = ham = 0
        for account_id in dict.fromkeys(account_ids):
            entry = await self._entry(account_id)
            spam += entry.learnt_spam
            ham += entry.learnt_ham
        return spam, ham

    async def token_counts(
        self, account_ids: Sequence[AccountId], tokens: Sequence[str]
    ) -> TokenCounts:
        """The counts of `tokens`, summed over the accounts (one message, several
        recipients: one verdict from all they taught)."""
        if not account_ids:
            return TokenCounts({}, 0, 0)
        ids = list(dict.fromkeys(account_ids))
        found: dict[str, tuple[int, int]] = {}
        totals = await self.learnt_totals(ids)  # no query when nothing is learnt
        if totals[0] + totals[1] == 0:
            return TokenCounts({}, 0, 0)
        async with self.read() as conn:
            wanted = list(dict.fromkeys(tokens))
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                rows = await conn.execute(
                    select(
                        spam_tokens.c.token,
                        func.sum(spam_tokens.c.spam),
                        func.sum(spam_tokens.c.ham),
                    )
                    .where(spam_tokens.c.account_id.in_(ids), spam_tokens.c.token.in_(chunk))
                    .group_by(spam_tokens.c.token)
                )
                for token, spam, ham in rows:
                    found[token] = (int(spam), int(ham))
        return TokenCounts(found, int(totals[0]), int(totals[1]))

    async def learn(
        self, account_id: AccountId, tokens: Sequence[str], *, spam: bool, key: str = ""
    ) -> bool:
        """One more message learnt as spam (or ham) with these tokens; False when the
        message with this `key` was learnt so already."""
        side = "spam" if spam else "ham"
        distinct = list(dict.fromkeys(tokens))
        rows = [
            {"account_id": account_id, "token": t, "spam": int(spam), "ham": int(not spam)}
            for t in distinct
        ]
        async with self.write() as tx:
            await self._ensure_row(tx, account_id)
            if key and not await self._note_learnt(tx, account_id, key, spam, distinct):
                return False
            total = spam_accounts.c.learnt_spam if spam else spam_accounts.c.learnt_ham
            await tx.execute(
                update(spam_accounts)
                .where(spam_accounts.c.account_id == account_id)
                .values({total.name: total + 1})
            )
            if rows:
                stmt = self._insert()(spam_tokens)
                await tx.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["account_id", "token"],
                        set_={side: getattr(spam_tokens.c, side) + 1},
                    ),
                    rows,
                )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)
        return True

    async def _note_learnt(
        self, tx: Any, account_id: AccountId, key: str, spam: bool, tokens: list[str]
    ) -> bool:
        """Records what the message is learnt as; False if it was so already. Learnt
        as the other kind before, that kind's counts of it are taken back."""
        where = (spam_learnt.c.account_id == account_id, spam_learnt.c.message_key == key)
        before = await tx.scalar(select(spam_learnt.c.spam).where(*where))
        if before is None:
            await tx.execute(
                insert(spam_learnt).values(account_id=account_id, message_key=key, spam=spam)
            )
            return True
        if bool(before) == spam:
            return False
        await tx.execute(update(spam_learnt).where(*where).values(spam=spam))
        other = spam_tokens.c.ham if spam else spam_tokens.c.spam
        for start in range(0, len(tokens), _LOOKUP_CHUNK):
            await tx.execute(
                update(spam_tokens)
                .where(
                    spam_tokens.c.account_id == account_id,
                    spam_tokens.c.token.in_(tokens[start : start + _LOOKUP_CHUNK]),
                    other > 0,
                )
                .values({other.name: other - 1})
            )
        total = spam_accounts.c.learnt_ham if spam else spam_accounts.c.learnt_spam
        await tx.execute(
            update(spam_accounts)
            .where(spam_accounts.c.account_id == account_id, total > 0)
            .values({total.name: total - 1})
        )
        return True

    async def _ensure_row(self, tx: Any, account_id: AccountId) -> None:
        await _must_exist(tx, account_id)
        await tx.execute(
            self._insert()(spam_accounts)
            .values(account_id=account_id, learnt_spam=0, learnt_ham=0)
            .on_conflict_do_nothing()
        )


async def _must_exist(tx: Any, account_id: AccountId) -> None:
    if await tx.scalar(select(accounts.c.id).where(accounts.c.id == account_id)) is None:
        raise NotFound(f"no account #{account_id}")
