"""The greylist role (`store.greylist`): which (network, sender, recipient) triplets
have been seen, since when, and whether one came back after the delay.

Owns the `greylist` table. A triplet is refused until `delay` seconds after it
was first seen; once a retry comes after that, it passes at once for `expire`
seconds from its last message. The rows live in the database, so every worker
and node of the MX agrees.
"""

from __future__ import annotations

import time

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store.base import Role
from postfach.store.schema import greylist

__all__ = ["GreylistStore"]


class GreylistStore(Role):
    """See `GreylistApi` (store/api.py)."""

    async def passes(
        self, network: str, sender: str, recipient: str, *, delay: float, expire: float
    ) -> bool:
        now = time.time()
        key = _key(network, sender, recipient)
        try:
            async with self.write() as tx:
                row = (
                    await tx.execute(
                        select(greylist.c.first_seen, greylist.c.last_seen, greylist.c.passed)
                        .where(key)
                    )
                ).first()
                if row is None or row.last_seen < now - expire:
                    await tx.execute(delete(greylist).where(key))
                    await tx.execute(
                        insert(greylist).values(
                            network=network, sender=sender, recipient=recipient,
                            first_seen=now, last_seen=now, passed=delay <= 0,
                        )  # fmt: skip
                    )
                    return delay <= 0
                if not row.passed and now - row.first_seen < delay:
                    return False  # too early: the clock runs from the first attempt
                await tx.execute(update(greylist).where(key).values(last_seen=now, passed=True))
                return True
        except IntegrityError:  # another session inserted the triplet just now
            return False

    async def forget_greylist(self, before: float) -> int:
        """Drops triplets last seen before `before`; returns how many."""
        async with self.write() as tx:
            result = await tx.execute(delete(greylist).where(greylist.c.last_seen < before))
            return int(result.rowcount or 0)


def _key(network: str, sender: str, recipient: str) -> ColumnElement[bool]:
    return (
        (greylist.c.network == network)
        & (greylist.c.sender == sender)
        & (greylist.c.recipient == recipient)
    )
