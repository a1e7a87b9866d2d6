"""The spam role's contract (`store.spam`, store/spam.py), apart from api.py for
its size, like sieve_api.py; api.py re-exports it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from postfach.store.records import AccountId
from postfach.store.spam_records import SpamSettings, TokenCounts

__all__ = ["SpamApi"]


class SpamApi(Protocol):
    """Per account: spam thresholds, allow and block lists, the classifier's counts."""

    async def settings(self, account_id: AccountId) -> SpamSettings: ...
    async def set_thresholds(
        self, account_id: AccountId, file_threshold: float | None, reject_threshold: float | None
    ) -> None:
        """None: the server's threshold applies. Raises NotFound."""

    async def set_sender(self, account_id: AccountId, entry: str, kind: str) -> None:
        """An address or domain onto the "allow" or "block" list. Raises NotFound."""

    async def remove_sender(self, account_id: AccountId, entry: str) -> None:
        """Raises NotFound when the entry is on neither list."""

    async def learnt_totals(self, account_ids: Sequence[AccountId]) -> tuple[int, int]:
        """Messages learnt as spam and as ham, summed over the accounts (cached)."""

    async def token_counts(
        self, account_ids: Sequence[AccountId], tokens: Sequence[str]
    ) -> TokenCounts:
        """Counts of the tokens summed over the accounts; empty when nothing was learnt."""

    async def learn(
        self, account_id: AccountId, tokens: Sequence[str], *, spam: bool, key: str = ""
    ) -> bool:
        """One more message learnt as spam or as ham, with these tokens. With a `key`
        (a digest of the message), learning it as the same again does nothing
        (False), and as the other kind takes back what it taught first."""
