"""The sign-in role (`store.signin`): two-factor secrets, recovery codes, the
sign-ins waiting for their second factor, and the mail programs seen lately.

Owns `second_factors`, `recovery_codes`, `pending_logins` and `seen_logins`.
A TOTP step and a recovery code are each used once, decided by one UPDATE, so
two sign-ins racing with the same code (on one node or two) cannot both pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from postfach.store.base import Role
from postfach.store.records import AccountId, PendingLogin, SecondFactor, SeenLogin
from postfach.store.schema_access import (
    pending_logins,
    recovery_codes,
    second_factors,
    seen_logins,
)
from postfach.store.web import token_digest

__all__ = ["SigninStore"]


class SigninStore(Role):
    """See `SigninApi` (store/access_api.py)."""

    # -- the second factor ---------------------------------------------------
    async def second_factor(self, account_id: AccountId) -> SecondFactor | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(second_factors).where(second_factors.c.account_id == account_id)
                )
            ).first()
            if row is None:
                return None
            left = await conn.scalar(
                select(func.count()).where(
                    recovery_codes.c.account_id == account_id, recovery_codes.c.used.is_(None)
                )
            )
        return SecondFactor(
            account_id, row.secret, bool(row.enabled), row.last_step, int(left or 0)
        )

    async def second_factor_enabled(self, account_id: AccountId) -> bool:
        async with self.read() as conn:
            enabled = await conn.scalar(
                select(second_factors.c.enabled).where(second_factors.c.account_id == account_id)
            )
        return bool(enabled)

    async def begin_second_factor(self, account_id: AccountId, secret: str) -> None:
        """A new secret waiting for its first code; an enabled one is never replaced."""
        async with self.write() as tx:
            enabled = await tx.scalar(
                select(second_factors.c.enabled).where(second_factors.c.account_id == account_id)
            )
            if enabled:
                return
            await tx.execute(
                delete(second_factors).where(second_factors.c.account_id == account_id)
            )
            await tx.execute(
                insert(second_factors).values(
                    account_id=account_id, secret=secret, enabled=False, last_step=0,
                    created=time.time(),
                )
            )  # fmt: skip

    async def enable_second_factor(
        self, account_id: AccountId, step: int, recovery_digests: Sequence[str]
    ) -> bool:
        """Turns the waiting secret on with the step of its first code and new
        recovery codes; False when there is no waiting secret."""
        async with self.write() as tx:
            result = await tx.execute(
                update(second_factors)
                .where(second_factors.c.account_id == account_id, ~second_factors.c.enabled)
                .values(enabled=True, last_step=step)
            )
            if not result.rowcount:
                return False
            await self._replace_codes(tx, account_id, recovery_digests)
        return True

    async def disable_second_factor(self, account_id: AccountId) -> None:
        async with self.write() as tx:
            await tx.execute(
                delete(second_factors).where(second_factors.c.account_id == account_id)
            )
            await tx.execute(
                delete(recovery_codes).where(recovery_codes.c.account_id == account_id)
            )

    async def accept_totp_step(self, account_id: AccountId, step: int) -> bool:
        """True once per step, and only for a step after the last one accepted."""
        async with self.write() as tx:
            result = await tx.execute(
                update(second_factors)
                .where(
                    second_factors.c.account_id == account_id,
                    second_factors.c.enabled,
                    second_factors.c.last_step < step,
                )
                .values(last_step=step)
            )
        return bool(result.rowcount)

    async def use_recovery_code(self, account_id: AccountId, digest: str) -> bool:
        async with self.write() as tx:
            unused = (
                select(recovery_codes.c.id)
                .where(
                    recovery_codes.c.account_id == account_id,
                    recovery_codes.c.code_sha256 == digest,
                    recovery_codes.c.used.is_(None),
                )
                .limit(1)
                .scalar_subquery()
            )
            result = await tx.execute(
                update(recovery_codes)
                .where(recovery_codes.c.id == unused, recovery_codes.c.used.is_(None))
                .values(used=time.time())
            )
        return bool(result.rowcount)

    async def replace_recovery_codes(self, account_id: AccountId, digests: Sequence[str]) -> None:
        async with self.write() as tx:
            await self._replace_codes(tx, account_id, digests)

    @staticmethod
    async def _replace_codes(
        tx: AsyncConnection, account_id: AccountId, digests: Sequence[str]
    ) -> None:
        await tx.execute(delete(recovery_codes).where(recovery_codes.c.account_id == account_id))
        if digests:
            await tx.execute(
                insert(recovery_codes),
                [{"account_id": account_id, "code_sha256": d} for d in digests],
            )

    # -- sign-ins waiting for their second factor ----------------------------
    async def create_pending_login(
        self, login_id: str, account_id: AccountId, generation: int, lifetime: float
    ) -> None:
        now = time.time()
        async with self.write() as tx:
            await tx.execute(delete(pending_logins).where(pending_logins.c.expires < now))
            await tx.execute(
                insert(pending_logins).values(
                    id_sha256=token_digest(login_id), account_id=account_id,
                    generation=generation, expires=now + lifetime, attempts=0,
                )
            )  # fmt: skip

    async def pending_login(self, login_id: str) -> PendingLogin | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(pending_logins).where(
                        pending_logins.c.id_sha256 == token_digest(login_id),
                        pending_logins.c.expires > time.time(),
                    )
                )
            ).first()
        if row is None:
            return None
        return PendingLogin(AccountId(row.account_id), row.generation, row.expires, row.attempts)

    async def count_failed_code(self, login_id: str) -> int:
        """One more wrong code for this sign-in; the count so far."""
        async with self.write() as tx:
            digest = token_digest(login_id)
            await tx.execute(
                update(pending_logins)
                .where(pending_logins.c.id_sha256 == digest)
                .values(attempts=pending_logins.c.attempts + 1)
            )
            count = await tx.scalar(
                select(pending_logins.c.attempts).where(pending_logins.c.id_sha256 == digest)
            )
        return int(count or 0)

    async def end_pending_login(self, login_id: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                delete(pending_logins).where(pending_logins.c.id_sha256 == token_digest(login_id))
            )

    # -- mail programs seen ----------------------------------------------------
    async def note_login(
        self, account_id: AccountId, protocol: str, ip: str, app_password: str | None
    ) -> None:
        """One row per account, protocol, address and credential; an upsert, since
        two nodes may note the same one at once."""
        now = time.time()
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        row = dialect_insert(seen_logins).values(
            account_id=account_id, protocol=protocol, ip=ip[:64],
            app_password=app_password or "", first_seen=now, last_seen=now,
        )  # fmt: skip
        key = ["account_id", "protocol", "ip", "app_password"]
        async with self.write() as tx:
            await tx.execute(row.on_conflict_do_update(index_elements=key, set_={"last_seen": now}))

    async def seen_logins(self, account_id: AccountId, since: float) -> list[SeenLogin]:
        async with self.write() as tx:  # old rows go as they are listed
            await tx.execute(delete(seen_logins).where(seen_logins.c.last_seen < since))
            rows = (
                await tx.execute(
                    select(seen_logins)
                    .where(seen_logins.c.account_id == account_id)
                    .order_by(seen_logins.c.last_seen.desc())
                )
            ).all()
        return [
            SeenLogin(r.id, r.protocol, r.ip, r.app_password, r.first_seen, r.last_seen)
            for r in rows
        ]

    async def forget_login(self, account_id: AccountId, seen_id: int) -> None:
        async with self.write() as tx:
            await tx.execute(
                delete(seen_logins).where(
                    seen_logins.c.account_id == account_id, seen_logins.c.id == seen_id
                )
            )
