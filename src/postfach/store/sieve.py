"""The Sieve role (`store.sieve`): an account's Sieve scripts, which one is
active, whom vacation answered, and how many redirects its scripts made.

Owns the `sieve_scripts`, `sieve_replies` and `sieve_redirects` tables
(store/schema_sieve.py). Scripts are stored as text, checked before they get
here (postfach/sieve/ compiles them); at most one per account is active.
The active script, which every delivery asks for, comes from the process's
settings cache (settings_cache.py): every write to the scripts bumps the
settings generation in its transaction and publishes ChangeAccountSettings.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from postfach.store.base import Role
from postfach.store.errors import AlreadyExists
from postfach.store.records import AccountId
from postfach.store.schema_sieve import sieve_redirects, sieve_replies, sieve_scripts
from postfach.store.settings_cache import bump_generation
from postfach.store.sieve_records import SieveScriptInfo

__all__ = ["SieveStore"]

_DAY = 86400.0
_ACTIVE_SCRIPT = select(sieve_scripts.c.name, sieve_scripts.c.content).where(
    sieve_scripts.c.account_id == bindparam("account_id"),
    sieve_scripts.c.active.is_(True),  # one row at most: set_active sees to it
)


class SieveStore(Role):
    """See `SieveApi` (store/api.py)."""

    # -- scripts ---------------------------------------------------------------
    async def list_scripts(self, account_id: AccountId) -> list[SieveScriptInfo]:
        c = sieve_scripts.c
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(c.name, c.active, c.content)
                    .where(c.account_id == account_id)
                    .order_by(c.name)
                )
            ).all()
        return [SieveScriptInfo(r.name, bool(r.active), len(r.content.encode())) for r in rows]

    async def get_script(self, account_id: AccountId, name: str) -> str | None:
        c = sieve_scripts.c
        async with self.read() as conn:
            text = (
                await conn.execute(
                    select(c.content).where(c.account_id == account_id, c.name == name)
                )
            ).scalar()
        return None if text is None else str(text)

    async def put_script(self, account_id: AccountId, name: str, text: str) -> None:
        c = sieve_scripts.c
        now = time.time()
        async with self.write() as tx:
            changed = await tx.execute(
                update(sieve_scripts)
                .where(c.account_id == account_id, c.name == name)
                .values(content=text, updated=now)
            )
            if not changed.rowcount:
                await tx.execute(
                    insert(sieve_scripts).values(
                        account_id=account_id, name=name, content=text, active=False, updated=now
                    )
                )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)

    async def delete_script(self, account_id: AccountId, name: str) -> bool:
        c = sieve_scripts.c
        async with self.write() as tx:
            result = await tx.execute(
                delete(sieve_scripts).where(c.account_id == account_id, c.name == name)
            )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)
        return bool(result.rowcount)

    async def rename_script(self, account_id: AccountId, old: str, new: str) -> bool:
        c = sieve_scripts.c
        if old == new:
            return await self.get_script(account_id, old) is not None
        try:
            async with self.write() as tx:
                if await _exists(tx, account_id, new):
                    raise AlreadyExists(f"a script named {new!r} exists")
                result = await tx.execute(
                    update(sieve_scripts)
                    .where(c.account_id == account_id, c.name == old)
                    .values(name=new, updated=time.time())
                )
                generation = await bump_generation(tx)
        except IntegrityError as exc:  # made by another session meanwhile
            raise AlreadyExists(f"a script named {new!r} exists") from exc
        self.settings_written(account_id, generation)
        return bool(result.rowcount)

    async def set_active(self, account_id: AccountId, name: str | None) -> bool:
        c = sieve_scripts.c
        async with self.write() as tx:
            if name is not None and not await _exists(tx, account_id, name):
                return False
            await tx.execute(
                update(sieve_scripts)
                .where(c.account_id == account_id, c.active.is_(True))
                .values(active=False)
            )
            if name is not None:
                await tx.execute(
                    update(sieve_scripts)
                    .where(c.account_id == account_id, c.name == name)
                    .values(active=True)
                )
            generation = await bump_generation(tx)
        self.settings_written(account_id, generation)
        return True

    async def active_script(self, account_id: AccountId) -> tuple[str, str] | None:
        # Every delivery asks: the cache, else the driver's fast path (StoreBase.fetch).
        cache = self.settings_cache
        cached, entry = cache.sieve(account_id)
        if cached:
            return entry
        epoch = cache.epoch
        rows = await self.fetch(_ACTIVE_SCRIPT, account_id=account_id)
        entry = None if not rows else (str(rows[0].name), str(rows[0].content))
        cache.keep_sieve(account_id, entry, epoch)
        return entry

    # -- vacation ----------------------------------------------------------------
    async def vacation_seen(
        self,
        account_id: AccountId,
        sender: str,
        handle: str,
        days: float,
        *,
        now: float | None = None,
    ) -> bool:
        now = time.time() if now is None else now
        c = sieve_replies.c
        key = (
            (c.account_id == account_id)
            & (c.sender == sender.lower())
            & (c.handle == hashlib.sha256(handle.encode()).hexdigest())
        )
        try:
            async with self.write() as tx:
                until = (await tx.execute(select(c.expires).where(key))).scalar()
                if until is not None and until > now:
                    return True
                await tx.execute(delete(sieve_replies).where(key))
                await tx.execute(
                    insert(sieve_replies).values(
                        account_id=account_id,
                        sender=sender.lower(),
                        handle=hashlib.sha256(handle.encode()).hexdigest(),
                        expires=now + days * _DAY,
                    )
                )
                return False
        except IntegrityError:  # another delivery recorded a reply just now
            return True

    async def forget_vacation_replies(self, before: float) -> int:
        async with self.write() as tx:
            result = await tx.execute(delete(sieve_replies).where(sieve_replies.c.expires < before))
            return int(result.rowcount or 0)

    # -- redirect rate limit -----------------------------------------------------
    async def redirect_allowed(
        self, account_id: AccountId, limit: int, window: float, *, now: float | None = None
    ) -> bool:
        now = time.time() if now is None else now
        start = int(now // window * window)
        c = sieve_redirects.c
        key = (c.account_id == account_id) & (c.window_start == start)
        for _attempt in range(2):
            try:
                async with self.write() as tx:
                    await tx.execute(
                        delete(sieve_redirects).where(
                            c.account_id == account_id, c.window_start < start
                        )
                    )
                    count = (await tx.execute(select(c.redirects).where(key))).scalar()
                    if count is None:
                        if limit <= 0:
                            return False
                        await tx.execute(
                            insert(sieve_redirects).values(
                                account_id=account_id, window_start=start, redirects=1
                            )
                        )
                        return True
                    if count >= limit:
                        return False
                    await tx.execute(update(sieve_redirects).where(key).values(redirects=count + 1))
                    return True
            except IntegrityError:  # another delivery opened the window just now: count again
                continue
        return False


async def _exists(tx: AsyncConnection, account_id: AccountId, name: str) -> bool:
    c = sieve_scripts.c
    found = await tx.execute(select(c.name).where(c.account_id == account_id, c.name == name))
    return found.first() is not None
