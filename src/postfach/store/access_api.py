"""The contracts of who may get in (store/api.py's StoreApi holds them): browser
sessions and admin tokens (`store.web`), two-factor sign-in and the mail programs
seen (`store.signin`), URLAUTH keys (`store.urlauth`). Apart from api.py only
for its size, as mailing_api.py and sieve_api.py are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from postfach.store.records import (
    AccountId,
    AdminToken,
    MailboxId,
    PendingLogin,
    SecondFactor,
    SeenLogin,
    WebSession,
)

__all__ = ["SigninApi", "UrlauthApi", "WebSessionsApi"]


class WebSessionsApi(Protocol):
    """Browser sessions (server-side, by SHA-256 of their id) and admin API tokens."""

    async def create_web_session(
        self,
        session_id: str,
        account_id: AccountId,
        generation: int,
        csrf: str,
        lifetime: float,
        ip: str = "",
    ) -> None: ...
    async def get_web_session(self, session_id: str) -> WebSession | None:
        """The session, if it exists, has not expired and is of the account's current credentials
        generation."""
    async def delete_web_session(self, session_id: str) -> None: ...
    async def count_web_sessions(self, account_id: AccountId) -> int: ...
    async def list_web_sessions(self, account_id: AccountId) -> list[WebSession]:
        """The account's live sessions, most recently used first."""
    async def delete_web_session_by_digest(self, account_id: AccountId, id_sha256: str) -> bool:
        """Ends one of the account's sessions, named as the sessions page names it."""
    async def note_web_session_use(self, session_id: str, user_agent: str) -> None: ...
    async def add_admin_token(self, name: str, token: str) -> AdminToken: ...
    async def list_admin_tokens(self) -> list[AdminToken]: ...
    async def revoke_admin_token(self, name: str) -> None: ...
    async def check_admin_token(self, token: str) -> AdminToken | None:
        """The token's record when it is valid; notes when it was last used (at most once a minute,
        so API calls are not all writes)."""


class SigninApi(Protocol):
    """Two-factor secrets, recovery codes (SHA-256), sign-ins waiting for their second
    factor, and the mail programs seen lately."""

    async def second_factor(self, account_id: AccountId) -> SecondFactor | None: ...
    async def second_factor_enabled(self, account_id: AccountId) -> bool: ...
    async def begin_second_factor(self, account_id: AccountId, secret: str) -> None:
        """A new secret waiting for its first code; an enabled one is never replaced."""
    async def enable_second_factor(
        self, account_id: AccountId, step: int, recovery_digests: Sequence[str]
    ) -> bool:
        """Turns the waiting secret on; False when there is none."""
    async def disable_second_factor(self, account_id: AccountId) -> None: ...
    async def accept_totp_step(self, account_id: AccountId, step: int) -> bool:
        """True once per step, and only for a step after the last one accepted."""
    async def use_recovery_code(self, account_id: AccountId, digest: str) -> bool: ...
    async def replace_recovery_codes(self, account_id: AccountId, digests: Sequence[str]) -> None:
        ...
    async def create_pending_login(
        self, login_id: str, account_id: AccountId, generation: int, lifetime: float
    ) -> None: ...
    async def pending_login(self, login_id: str) -> PendingLogin | None: ...
    async def count_failed_code(self, login_id: str) -> int: ...
    async def end_pending_login(self, login_id: str) -> None: ...
    async def note_login(
        self, account_id: AccountId, protocol: str, ip: str, app_password: str | None
    ) -> None: ...
    async def seen_logins(self, account_id: AccountId, since: float) -> list[SeenLogin]:
        """Those seen since `since`, newest first (older ones are dropped)."""
    async def forget_login(self, account_id: AccountId, seen_id: int) -> None: ...


class UrlauthApi(Protocol):
    """RFC 4467 URLAUTH keys, one per mailbox (store/urlauth.py)."""

    async def urlauth_key(self, mailbox_id: MailboxId) -> bytes | None:
        """The mailbox's key, or None when it has none (never made, or reset)."""

    async def make_urlauth_key(self, account_id: AccountId, mailbox_id: MailboxId) -> bytes:
        """The mailbox's key, made now when it has none."""

    async def reset_urlauth_keys(
        self, account_id: AccountId, mailbox_id: MailboxId | None = None
    ) -> None:
        """RESETKEY: drops the key of one mailbox, or of every mailbox of the account."""
