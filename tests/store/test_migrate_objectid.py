"""Schema 2 (RFC 8474 MAILBOXID): an older database gains `mailboxes.objectid` at
open, every existing folder gets one, and the schema version steps forward."""

from __future__ import annotations

import re

from sqlalchemy import select

from postfach.store import Store
from postfach.store.base import SCHEMA_VERSION
from postfach.store.schema import meta


async def test_database_without_objectids_migrates(store: Store) -> None:
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("bob@example.org", "hash")
    await store.mailboxes.create_mailbox(account.id, "Archive")
    # As a version-1 database was: no objectid column.
    async with store.write() as tx:
        await tx.exec_driver_sql("ALTER TABLE mailboxes DROP COLUMN objectid")
        await tx.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'schema'")
    reopened = await Store.connect(store.url)
    try:
        boxes = await reopened.mailboxes.list_mailboxes(account.id)
        ids = [m.objectid for m in boxes]
        assert len(boxes) >= 2 and all(re.fullmatch(r"F[0-9a-f]{24}", i) for i in ids)
        assert len(set(ids)) == len(ids)
        async with reopened.read() as conn:
            version = await conn.scalar(select(meta.c.value).where(meta.c.key == "schema"))
        assert version == str(SCHEMA_VERSION)
        again = await Store.connect(store.url)  # idempotent: the ids stay
        assert [m.objectid for m in await again.mailboxes.list_mailboxes(account.id)] == ids
        await again.close()
    finally:
        await reopened.close()
