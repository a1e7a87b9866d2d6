"""SQLite reads on the event loop (store/inline_sqlite.py): statements run at once
on the loop's thread, those in an `offloaded()` block on another thread, so that a
long scan does not stop the loop; errors come back as the driver raised them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from postfach.store import Store
from postfach.store.inline_sqlite import connect_inline, offloaded

SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT count(*) FROM n"
)


async def test_on_the_loop_thread_unless_offloaded(tmp_path):
    conn = await connect_inline(str(tmp_path / "x.db"))()
    try:
        await conn.create_function("thread", 0, threading.get_ident)
        assert (await conn.execute_fetchall("SELECT thread()")) == [(threading.get_ident(),)]
        with offloaded():
            (row,) = await conn.execute_fetchall("SELECT thread()")
        assert row[0] != threading.get_ident()
        with pytest.raises(sqlite3.OperationalError, match="no such column"):
            await conn.execute_fetchall("SELECT missing FROM sqlite_master")
        with offloaded(), pytest.raises(sqlite3.OperationalError, match="no such column"):
            await conn.execute_fetchall("SELECT missing FROM sqlite_master")
    finally:
        await conn.close()


async def test_an_offloaded_scan_leaves_the_loop_free(tmp_path):
    conn = await connect_inline(str(tmp_path / "x.db"))()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0.01)
        before = ticks
        with offloaded():
            assert await conn.execute_fetchall(SLOW) == [(3000000,)]
        assert ticks - before > 5  # the loop went on meanwhile
        before = ticks
        assert await conn.execute_fetchall(SLOW) == [(3000000,)]
        assert ticks == before  # at once: the loop waited
    finally:
        ticker.cancel()
        await conn.close()


async def test_store_reads_through_the_inline_reader(tmp_path):
    store = await Store.connect(f"sqlite:///{tmp_path}/mail.db")
    try:
        await store.accounts.add_domain("example.org")
        await store.accounts.add_account("bob@example.org", "a long password")
        account = await store.accounts.get_account("bob@example.org")
        assert account is not None
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        uid, _ = await store.mail.append(inbox.id, b"Subject: hi\r\n\r\nbody text\r\n")
        assert await store.mail.search_text(inbox.id, "body", "body") == {uid}
        index = await store.mail.mailbox_index(inbox.id)
        assert index.uids == [uid]
    finally:
        await store.close()
