"""The store as roles: one schema, made by `migrate`, also for databases of older versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from postfach.store import Store
from postfach.store.schema import metadata

MAILING_TABLES = [t.name for t in metadata.sorted_tables if t.name.startswith("mailing_")]


def _tables_and_indexes(conn: Any) -> tuple[set[str], set[str]]:
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
    return tables, indexes


async def _schema(store: Store) -> tuple[set[str], set[str]]:
    async with store.read() as conn:
        return await conn.run_sync(_tables_and_indexes)


async def test_migrate_makes_every_table_of_the_schema(store: Store) -> None:
    """The mailing tables too, which older versions made on their first use."""
    tables, indexes = await _schema(store)
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert {i.name for t in metadata.sorted_tables for i in t.indexes} <= indexes


async def test_database_of_an_older_version_opens_and_migrates(store: Store) -> None:
    """A database made before mailing existed (no mailing tables), or whose mailing
    table predates one of its indexes, gains them at open and keeps its data."""
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("bob@example.org", "hash")
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.mail.append(inbox.id, b"Subject: kept\r\n\r\nkept\r\n")
    # A mailing table made before one of its indexes was added.
    async with store.write() as tx:
        await tx.exec_driver_sql("DROP INDEX ix_mailing_recipients_email")
    assert "ix_mailing_recipients_email" not in (await _schema(store))[1]
    reopened = await Store.connect(store.url)
    assert "ix_mailing_recipients_email" in (await _schema(reopened))[1]
    await reopened.close()
    # A database from before bulk mailing: none of its tables.
    async with store.write() as tx:
        for name in reversed(MAILING_TABLES):
            await tx.exec_driver_sql(f"DROP TABLE {name}")
    assert not set(MAILING_TABLES) & (await _schema(store))[0]

    reopened = await Store.connect(store.url)
    try:
        tables, indexes = await _schema(reopened)
        assert set(MAILING_TABLES) <= tables and "ix_mailing_recipients_email" in indexes
        list_id = await reopened.mailing.ensure_list("news", 1000.0)
        assert await reopened.mailing.list_lists() == [("news", 0)]
        assert await reopened.mailing.get_list("news") == list_id
        [message] = await reopened.mail.get_messages(inbox.id, [1])  # type: ignore[list-item]
        assert await reopened.mail.read_raw(message) == b"Subject: kept\r\n\r\nkept\r\n"
    finally:
        await reopened.close()


def test_the_rules_both_write_paths_call() -> None:
    """store/rules.py is pure: what the fast path and the generic path decide alike."""
    from postfach.store.api import NotFound, OverQuota
    from postfach.store.rules import MAX_IN, admit, assign_uids, refusal, uid_counts, uid_lookup

    owners = {1: (7, 100, 50), 2: (7, 100, 50), 3: (8, 0, 10**9)}
    verdicts, charged = admit([(1, 30), (2, 30), (1, 10), (9, 1), (3, 10**6)], owners)
    assert verdicts == [None, "quota", None, "nomailbox", None]  # 50 + 30 + 10 fits, +30 not
    assert charged == {7: 40, 8: 10**6}  # no quota: anything fits
    assert isinstance(refusal("quota", 1), OverQuota)
    assert isinstance(refusal("nomailbox", 9), NotFound)
    assert uid_counts([2, 1, 2]) == [(1, 1), (2, 2)]  # mailbox order, as rows are locked
    assert assign_uids([2, 1, 2], {1: 5, 2: 9}) == [9, 5, 10]
    assert uid_lookup([3, 1]) == ([3, 1], None)
    many = list(range(1, MAX_IN + 10, 1))
    assert uid_lookup(many) == ([1, MAX_IN + 9], set(many))
