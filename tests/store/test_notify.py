"""Changes reach other processes and nodes: PG NOTIFY, and the SQLite credentials poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import PG_URL, reset_postgres
from postfach.store import Store, notify
from postfach.store.events import (
    ChangeAccountSettings,
    ChangeAddUid,
    ChangeCredentials,
    ChangeExpunge,
    ChangeFlags,
    ChangeMailboxes,
)
from postfach.store.notify import decode_changes, encode_changes
from postfach.store.records import AccountId, MailboxId, ModSeq, Uid


def test_encode_round_trip_and_split() -> None:
    changes = [
        ChangeAddUid(MailboxId(1), Uid(2), ModSeq(3), frozenset({"\\Seen", "$x"})),
        ChangeFlags(MailboxId(1), Uid(2), ModSeq(4), frozenset()),
        ChangeExpunge(MailboxId(1), (Uid(2), Uid(5)), ModSeq(6)),
        ChangeMailboxes(),
        ChangeCredentials(7, True),
        ChangeAccountSettings(),
    ]
    [payload] = encode_changes("node", AccountId(9), changes)
    assert decode_changes(payload) == ("node", 9, changes)
    huge = ChangeExpunge(MailboxId(1), tuple(Uid(u) for u in range(1, 5000)), ModSeq(2))
    payloads = encode_changes("node", AccountId(9), [huge])
    assert len(payloads) > 1 and all(len(p) < 8000 for p in payloads)
    uids = [u for p in payloads for c in decode_changes(p)[2] for u in c.uids]  # type: ignore[union-attr]
    assert uids == list(range(1, 5000))


async def _next(queue: asyncio.Queue, kind: type, timeout: float = 5.0):  # type: ignore[type-arg]
    async def wait():  # type: ignore[no-untyped-def]
        while True:
            change = await queue.get()
            if isinstance(change, kind):
                return change

    return await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def two_postgres_nodes() -> AsyncIterator[tuple[Store, Store, AccountId]]:
    """Node A and node B on one emptied database, B listening, and an account."""
    await reset_postgres(PG_URL)
    node_a = await Store.connect(PG_URL)
    node_b = await Store.connect(PG_URL)
    try:
        await node_b.start_change_feed()
        await node_a.accounts.add_domain("example.org")
        account = await node_a.accounts.add_account("bob@example.org", "h")
        yield node_a, node_b, account.id
    finally:
        await node_a.close()
        await node_b.close()


@pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")
async def test_postgres_nodes_hear_each_other() -> None:
    async with two_postgres_nodes() as (node_a, node_b, account_id):
        inbox = await node_a.mailboxes.get_mailbox(account_id, "INBOX")
        assert inbox is not None
        with node_b.hub.watch(account_id) as queue:
            await node_a.mail.append(inbox.id, b"Subject: x\r\n\r\nx\r\n")
            added = await _next(queue, ChangeAddUid)
            assert added.mailbox_id == inbox.id and added.uid == 1
            await node_a.accounts.bump_credentials(account_id)
            credentials = await _next(queue, ChangeCredentials)
            assert credentials.logout


@pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")
async def test_a_change_sent_while_the_sender_closes_is_not_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node's sender closes its connection when no change came for a while. A
    change published while the sender was closing it found it still running and
    waited for the next change: the other node heard of it late, or never. With
    no while at all, each change here is published as soon as the one before
    arrived, which is when the sender closes."""
    monkeypatch.setattr(notify, "SENDER_IDLE", 0.0)
    async with two_postgres_nodes() as (node_a, node_b, account_id):
        with node_b.hub.watch(account_id) as queue:
            for generation in range(1, 31):
                node_a.hub.publish(account_id, [ChangeCredentials(generation, logout=False)])
                heard = await _next(queue, ChangeCredentials, timeout=2.0)
                assert heard.generation == generation


@pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")
async def test_bursts_of_changes_share_one_sender_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Changes that keep coming go out over one kept connection (a connection per
    burst cost a worker a sixth of its time), and every one arrives."""
    import asyncpg

    real_connect = asyncpg.connect
    made: list[object] = []

    async def counted(*args: object, **kwargs: object) -> object:
        made.append(args)
        return await real_connect(*args, **kwargs)

    async with two_postgres_nodes() as (node_a, node_b, account_id):
        with node_b.hub.watch(account_id) as queue:
            monkeypatch.setattr(asyncpg, "connect", counted)
            for generation in range(1, 21):
                node_a.hub.publish(account_id, [ChangeCredentials(generation, logout=False)])
                heard = await _next(queue, ChangeCredentials, timeout=2.0)
                assert heard.generation == generation
                await asyncio.sleep(0.02)
            assert len(made) <= 1, len(made)  # one, or the one kept from the setup


async def test_sqlite_server_hears_cli_logout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    server = await Store.connect(url)
    cli = await Store.connect(url)
    try:
        await cli.accounts.add_domain("example.org")
        account = await cli.accounts.add_account("bob@example.org", "h")
        await server.start_change_feed()
        with server.hub.watch(account.id) as queue:
            await asyncio.sleep(0.1)
            await cli.accounts.set_password_hash(account.id, "other")
            change = await _next(queue, ChangeCredentials)
            assert not change.logout
            await cli.accounts.bump_credentials(account.id)
            change = await _next(queue, ChangeCredentials)
            assert change.logout
    finally:
        await server.close()
        await cli.close()


@pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")
async def test_a_cut_listener_empties_the_settings_cache() -> None:
    """Notifications sent while the listener was away are lost: what the settings
    cache holds may be stale, so it is emptied, and the listener comes back."""
    import asyncpg

    await reset_postgres(PG_URL)
    store = await Store.connect(PG_URL)
    try:
        await store.accounts.add_domain("example.org")
        account = await store.accounts.add_account("bob@example.org", "h")
        await store.start_change_feed()
        for _ in range(100):  # the poll's first read turns caching on
            if store.settings_cache.enabled:
                break
            await asyncio.sleep(0.05)
        await store.spam.settings(account.id)
        assert store.settings_cache.spam(account.id) is not None
        admin = await asyncpg.connect(PG_URL)
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
            )
            assert cut == 1
            for _ in range(100):
                if store.settings_cache.spam(account.id) is None:
                    break
                await asyncio.sleep(0.05)
            assert store.settings_cache.spam(account.id) is None
            for _ in range(200):  # listening again, within its back-off
                listening = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                )
                if listening:
                    break
                await asyncio.sleep(0.05)
            assert listening == 1
        finally:
            await admin.close()
    finally:
        await store.close()
