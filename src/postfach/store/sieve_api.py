"""The Sieve role's contract (`store.sieve`, store/sieve.py), apart from api.py
for its size, like mailing_api.py; api.py re-exports it."""

from __future__ import annotations

from typing import Protocol

from postfach.store.records import AccountId
from postfach.store.sieve_records import SieveScriptInfo

__all__ = ["SieveApi"]


class SieveApi(Protocol):
    """Per account: Sieve scripts (RFC 5228, managed by ManageSieve, RFC 5804),
    the one active script, vacation's memory of whom it answered, redirect counts."""

    async def list_scripts(self, account_id: AccountId) -> list[SieveScriptInfo]:
        """The account's scripts by name."""
    async def get_script(self, account_id: AccountId, name: str) -> str | None: ...
    async def put_script(self, account_id: AccountId, name: str, text: str) -> None:
        """Creates or replaces a script (an active one stays active). The text is
        stored as given: callers compile it first (postfach.sieve.compile_script)."""
    async def delete_script(self, account_id: AccountId, name: str) -> bool:
        """False when there is no such script. Deletes an active one too:
        ManageSieve refuses that itself (RFC 5804 §2.10)."""
    async def rename_script(self, account_id: AccountId, old: str, new: str) -> bool:
        """False when `old` does not exist; raises AlreadyExists when `new` does.
        An active script stays active under its new name."""
    async def set_active(self, account_id: AccountId, name: str | None) -> bool:
        """Makes `name` the one active script; None deactivates all. False when
        there is no such script (nothing changes then)."""
    async def active_script(self, account_id: AccountId) -> tuple[str, str] | None:
        """(name, text) of the active script; None when none is."""
    async def vacation_seen(
        self,
        account_id: AccountId,
        sender: str,
        handle: str,
        days: float,
        *,
        now: float | None = None,
    ) -> bool:
        """True when `sender` was answered for `handle` less than its :days ago
        (no reply now); otherwise records a reply now, good for `days`, and
        returns False (reply). Sender compared case-insensitively."""
    async def forget_vacation_replies(self, before: float) -> int:
        """Drops records that ran out before `before`; returns how many."""
    async def redirect_allowed(
        self, account_id: AccountId, limit: int, window: float, *, now: float | None = None
    ) -> bool:
        """Counts one redirect in the current `window` (seconds); False, and
        nothing counted, when `limit` were made in it already."""
