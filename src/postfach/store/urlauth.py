"""The URLAUTH role (`store.urlauth`): the per-mailbox secrets RFC 4467 tokens are
made with.

Owns the `urlauth_keys` table. A mailbox has a key once a GENURLAUTH asked for
one; RESETKEY drops the keys of one mailbox or of the whole account, so every
URL made with them stops working. Deleting the mailbox or account drops its keys.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from postfach.store.base import Role
from postfach.store.records import AccountId, MailboxId
from postfach.store.schema_access import urlauth_keys

__all__ = ["UrlauthStore"]


class UrlauthStore(Role):
    """See `UrlauthApi` (store/access_api.py)."""

    async def urlauth_key(self, mailbox_id: MailboxId) -> bytes | None:
        async with self.read() as conn:
            secret = await conn.scalar(
                select(urlauth_keys.c.secret).where(urlauth_keys.c.mailbox_id == mailbox_id)
            )
        return None if secret is None else bytes.fromhex(secret)

    async def make_urlauth_key(self, account_id: AccountId, mailbox_id: MailboxId) -> bytes:
        existing = await self.urlauth_key(mailbox_id)
        if existing is not None:
            return existing
        secret = secrets.token_hex(32)
        try:
            async with self.write() as tx:
                await tx.execute(
                    insert(urlauth_keys).values(
                        mailbox_id=mailbox_id, account_id=account_id, secret=secret
                    )
                )
        except IntegrityError:  # another session made it first: theirs counts
            made = await self.urlauth_key(mailbox_id)
            assert made is not None
            return made
        return bytes.fromhex(secret)

    async def reset_urlauth_keys(
        self, account_id: AccountId, mailbox_id: MailboxId | None = None
    ) -> None:
        condition = urlauth_keys.c.account_id == account_id
        if mailbox_id is not None:
            condition = condition & (urlauth_keys.c.mailbox_id == mailbox_id)
        async with self.write() as tx:
            await tx.execute(delete(urlauth_keys).where(condition))
