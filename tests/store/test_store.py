"""The store's API on both backends (SQLite always, PostgreSQL when POSTFACH_TEST_PG is set)."""

from __future__ import annotations

import asyncio

import pytest

from postfach.store import AlreadyExists, NotFound, OverQuota, Store
from postfach.store.events import ChangeAddUid, ChangeExpunge, ChangeFlags
from postfach.store.records import MailboxId, Pop3Delete, SpecialUse, Uid

MSG = (
    b"From: Alice <alice@example.net>\r\nTo: bob@example.org\r\n"
    b"Subject: Hello there\r\n\r\nThe quick brown fox.\r\n"
)


async def _account(store: Store, address: str = "bob@example.org", quota: int = 0):
    if await store.accounts.get_domain(address.split("@")[1]) is None:
        await store.accounts.add_domain(address.split("@")[1])
    return await store.accounts.add_account(address, "hash", quota)


async def test_domains(store: Store) -> None:
    await store.accounts.add_domain("Example.ORG", "s1", "KEY")
    with pytest.raises(AlreadyExists):
        await store.accounts.add_domain("example.org")
    [domain] = await store.accounts.list_domains()
    assert (domain.name, domain.dkim_selector, domain.dkim_private_key) == (
        "example.org",
        "s1",
        "KEY",
    )
    await store.accounts.add_account("a@example.org", "h")
    with pytest.raises(AlreadyExists):
        await store.accounts.remove_domain("example.org")
    await store.accounts.remove_account("a@example.org")
    await store.accounts.remove_domain("example.org")
    assert await store.accounts.list_domains() == []
    with pytest.raises(NotFound):
        await store.accounts.remove_domain("example.org")


async def test_new_account_has_standard_folders(store: Store) -> None:
    account = await _account(store)
    boxes = {m.name: m.special_use for m in await store.mailboxes.list_mailboxes(account.id)}
    assert boxes == {
        "INBOX": None,
        "Sent": SpecialUse.SENT,
        "Drafts": SpecialUse.DRAFTS,
        "Spam": SpecialUse.JUNK,
        "Trash": SpecialUse.TRASH,
    }
    assert account.imap_enabled and account.pop3_enabled
    assert account.pop3_folders == ("INBOX",) and account.pop3_delete is Pop3Delete.KEEP
    validities = {m.uidvalidity for m in await store.mailboxes.list_mailboxes(account.id)}
    assert len(validities) == 5


async def test_account_settings_and_credentials(store: Store) -> None:
    account = await _account(store)
    updated = await store.accounts.update_account(
        account.id,
        pop3_enabled=False,
        pop3_folders=("INBOX", "Spam"),
        pop3_mark_read=True,
        pop3_delete=Pop3Delete.TRASH,
        save_sent=True,
        quota_bytes=1000,
    )
    assert not updated.pop3_enabled and updated.pop3_folders == ("INBOX", "Spam")
    assert updated.pop3_mark_read and updated.pop3_delete is Pop3Delete.TRASH
    assert updated.save_sent and updated.quota_bytes == 1000
    with pytest.raises(ValueError):
        await store.accounts.update_account(account.id, nonsense=1)
    generation = await store.accounts.bump_credentials(account.id)
    assert generation == account.credentials_gen + 1
    await store.accounts.set_password_hash(account.id, "new")
    assert (await store.accounts.get_account("BOB@example.org")).password_hash == "new"  # type: ignore[union-attr]


async def test_aliases_resolve(store: Store) -> None:
    bob = await _account(store)
    carol = await _account(store, "carol@example.org")
    await store.accounts.add_alias("sales@example.org", "bob@example.org")
    await store.accounts.add_alias("team@example.org", "sales@example.org")
    await store.accounts.add_alias("team@example.org", "carol@example.org")
    await store.accounts.add_alias("loop@example.org", "loop@example.org")
    assert [a.id for a in await store.accounts.resolve("sales@example.org")] == [bob.id]
    assert {a.id for a in await store.accounts.resolve("team@example.org")} == {bob.id, carol.id}
    assert await store.accounts.resolve("loop@example.org") == []
    assert await store.accounts.resolve("nobody@example.org") == []
    assert await store.accounts.aliases_for(bob.id) == ["sales@example.org"]
    with pytest.raises(AlreadyExists):
        await store.accounts.add_alias("sales@example.org", "bob@example.org")
    await store.accounts.remove_alias("sales@example.org")
    with pytest.raises(NotFound):
        await store.accounts.remove_alias("sales@example.org")


async def test_app_passwords(store: Store) -> None:
    account = await _account(store)
    await store.accounts.add_app_password(account.id, "phone", "h1")
    await store.accounts.add_app_password(account.id, "laptop", "h2")
    with pytest.raises(AlreadyExists):
        await store.accounts.add_app_password(account.id, "phone", "h3")
    assert [p.name for p in await store.accounts.list_app_passwords(account.id)] == [
        "laptop",
        "phone",
    ]
    await store.accounts.revoke_app_password(account.id, "phone")
    assert [p.name for p in await store.accounts.list_app_passwords(account.id)] == ["laptop"]
    with pytest.raises(NotFound):
        await store.accounts.revoke_app_password(account.id, "phone")


async def test_append_fetch_and_dedup(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "inbox")
    assert inbox is not None
    with store.hub.watch(account.id) as changes:
        uid1, validity = await store.mail.append(
            inbox.id, MSG, frozenset({"\\Seen"}), 1_700_000_000.0
        )
        uid2, _ = await store.mail.append(inbox.id, MSG)
        first = changes.get_nowait()
    assert (uid1, uid2) == (1, 2) and validity == inbox.uidvalidity
    assert isinstance(first, ChangeAddUid) and first.uid == 1
    [m1, m2] = await store.mail.get_messages(inbox.id, [Uid(1), Uid(2), Uid(9)])
    assert m1.blob_sha256 == m2.blob_sha256  # stored once
    assert m1.flags == frozenset({"\\Seen"}) and m1.internaldate == 1_700_000_000.0
    assert await store.mail.read_raw(m1) == MSG and m1.size == len(MSG)
    status = await store.mailboxes.mailbox_status(inbox.id)
    assert (status.messages, status.unseen, status.size) == (2, 1, 2 * len(MSG))
    assert (await store.accounts.get_account_by_id(account.id)).used_bytes == 2 * len(MSG)  # type: ignore[union-attr]


async def test_quota(store: Store) -> None:
    account = await _account(store, quota=len(MSG) + 10)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.mail.append(inbox.id, MSG)
    with pytest.raises(OverQuota):
        await store.mail.append(inbox.id, MSG)
    trash = await store.mailboxes.special_mailbox(account.id, "\\Trash")
    assert trash is not None
    with pytest.raises(OverQuota):
        await store.mail.copy_messages(inbox.id, [Uid(1)], trash.id)
    # A move needs no extra room.
    assert await store.mail.move_messages(inbox.id, [Uid(1)], trash.id) == [(1, 1)]


async def test_flags_modseq_and_unchangedsince(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    for _ in range(3):
        await store.mail.append(inbox.id, MSG)
    with store.hub.watch(account.id) as changes:
        changed, failed = await store.mail.store_flags(
            inbox.id, [Uid(1), Uid(2)], "add", frozenset({"\\Flagged"})
        )
        assert [m.uid for m in changed] == [1, 2] and failed == []
        modseq = changed[0].modseq
        assert isinstance(changes.get_nowait(), ChangeFlags)
    # Nothing changes: no new modseq.
    same, _ = await store.mail.store_flags(inbox.id, [Uid(1)], "add", frozenset({"\\Flagged"}))
    assert same == []
    changed, failed = await store.mail.store_flags(
        inbox.id, [Uid(1), Uid(3)], "replace", frozenset({"$Work"}), unchanged_since=modseq - 1
    )
    assert [m.uid for m in changed] == [3] and failed == [1]
    index = await store.mail.message_index(inbox.id)
    assert [sorted(m.flags) for m in index] == [["\\Flagged"], ["\\Flagged"], ["$Work"]]
    since = await store.mail.changed_since(inbox.id, modseq)
    assert [m.uid for m in since] == [3]
    removed, _ = await store.mail.store_flags(
        inbox.id, [Uid(2)], "remove", frozenset({"\\Flagged"})
    )
    assert removed[0].flags == frozenset()


async def test_expunge_copy_move(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    trash = await store.mailboxes.get_mailbox(account.id, "Trash")
    assert inbox and trash
    for i in range(4):
        await store.mail.append(inbox.id, MSG + str(i).encode())
    await store.mail.store_flags(inbox.id, [Uid(2), Uid(4)], "add", frozenset({"\\Deleted"}))
    before = (await store.mailboxes.get_mailbox_by_id(inbox.id)).highestmodseq  # type: ignore[union-attr]
    with store.hub.watch(account.id) as changes:
        assert await store.mail.expunge(inbox.id, [Uid(4)]) == [4]
        change = changes.get_nowait()
        assert isinstance(change, ChangeExpunge) and change.uids == (4,)
    assert await store.mail.expunged_since(inbox.id, before) == [4]
    assert await store.mail.expunge(inbox.id) == [2]
    assert await store.mail.copy_messages(inbox.id, [Uid(1)], trash.id) == [(1, 1)]
    assert await store.mail.move_messages(inbox.id, [Uid(3)], trash.id) == [(3, 2)]
    assert [m.uid for m in await store.mail.message_index(inbox.id)] == [1]
    assert [m.uid for m in await store.mail.message_index(trash.id)] == [1, 2]
    assert await store.mail.delete_messages(trash.id, [Uid(1), Uid(2)]) == [1, 2]
    assert (await store.accounts.get_account_by_id(account.id)).used_bytes == len(MSG) + 1  # type: ignore[union-attr]


async def test_mailbox_create_rename_delete(store: Store) -> None:
    account = await _account(store)
    await store.mailboxes.create_mailbox(account.id, "Projects")
    await store.mailboxes.create_mailbox(account.id, "Projects/2026")
    with pytest.raises(AlreadyExists):
        await store.mailboxes.create_mailbox(account.id, "Projects")
    await store.mailboxes.rename_mailbox(account.id, "Projects", "Work")
    names = {m.name for m in await store.mailboxes.list_mailboxes(account.id)}
    assert {"Work", "Work/2026"} <= names and "Projects" not in names
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.mail.append(inbox.id, MSG)
    await store.mailboxes.rename_mailbox(account.id, "INBOX", "Old")
    old = await store.mailboxes.get_mailbox(account.id, "Old")
    assert old is not None and len(await store.mail.message_index(old.id)) == 1
    assert await store.mail.message_index(inbox.id) == []
    await store.mailboxes.delete_mailbox(account.id, "Old")
    with pytest.raises(NotFound):
        await store.mailboxes.delete_mailbox(account.id, "Old")
    await store.mailboxes.set_subscribed(account.id, "Work", True)
    await store.mailboxes.set_subscribed(account.id, "inbox", True)
    assert await store.mailboxes.subscriptions(account.id) == {"Work", "INBOX"}
    await store.mailboxes.set_subscribed(account.id, "Work", False)
    assert await store.mailboxes.subscriptions(account.id) == {"INBOX"}


async def test_search(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.mail.append(inbox.id, MSG)
    await store.mail.append(
        inbox.id, b"From: carol@example.com\r\nSubject: 100% off_sale\r\n\r\nnothing\r\n"
    )
    assert await store.mail.search_text(inbox.id, "ALICE", "from") == {1}
    assert await store.mail.search_text(inbox.id, "brown FOX", "body") == {1}
    assert await store.mail.search_text(inbox.id, "100%", "subject") == {2}
    assert await store.mail.search_text(inbox.id, "f_s", "subject") == {2}
    assert await store.mail.search_text(inbox.id, "0% o", "text") == {2}
    found = await store.mail.search_account(account.id, "quick hello")
    assert [(box.name, m.uid) for box, m in found] == [("INBOX", 1)]


async def test_retention_counts_from_entering_trash(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    trash = await store.mailboxes.get_mailbox(account.id, "Trash")
    spam = await store.mailboxes.get_mailbox(account.id, "Spam")
    assert inbox and trash and spam
    # An old message (by its Date and INTERNALDATE) moved to Trash just now stays.
    await store.mail.append(inbox.id, MSG, internaldate=0.0)
    await store.mail.move_messages(inbox.id, [Uid(1)], trash.id)
    await store.mail.append(spam.id, MSG)
    assert await store.mail.purge_retention(30, 10) == 0
    [moved] = await store.mail.get_messages(trash.id, [Uid(1)])
    assert await store.mail.purge_retention(30, 10, now=moved.entered_at + 9 * 86400) == 0
    assert await store.mail.purge_retention(30, 10, now=moved.entered_at + 11 * 86400) == 1
    assert await store.mail.message_index(spam.id) == []
    assert await store.mail.purge_retention(30, 10, now=moved.entered_at + 31 * 86400) == 1
    assert (await store.accounts.get_account_by_id(account.id)).used_bytes == 0  # type: ignore[union-attr]


async def test_locks(store: Store) -> None:
    assert await store.locks.try_lock("pop3:1", "node-a", 60)
    assert not await store.locks.try_lock("pop3:1", "node-b", 60)
    assert await store.locks.try_lock("pop3:1", "node-a", 60)  # re-entrant for its owner
    assert await store.locks.refresh_lock("pop3:1", "node-a", 60)
    assert not await store.locks.refresh_lock("pop3:1", "node-b", 60)
    await store.locks.unlock("pop3:1", "node-a")
    assert await store.locks.try_lock("pop3:1", "node-b", 0.01)
    await asyncio.sleep(0.05)
    assert await store.locks.try_lock("pop3:1", "node-a", 60)  # expired


async def test_concurrent_appends_get_distinct_uids(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    results = await asyncio.gather(
        *(store.mail.append(inbox.id, MSG + bytes([65 + i % 26])) for i in range(40))
    )
    assert sorted(uid for uid, _ in results) == list(range(1, 41))


async def test_remove_account_frees_blobs(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    uid, _ = await store.mail.append(inbox.id, MSG)
    [message] = await store.mail.get_messages(inbox.id, [uid])
    await store.accounts.remove_account(account.address)
    with pytest.raises(NotFound):
        await store.mail.read_blob(message.blob_sha256)
    assert await store.accounts.get_account(account.address) is None


async def test_mailbox_index_columns(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    for i in range(5):
        await store.mail.append(
            inbox.id, MSG + bytes([48 + i]), frozenset({"\\Seen"}) if i % 2 else frozenset()
        )
    await store.mail.store_flags(inbox.id, [Uid(1)], "add", frozenset({"$Work"}))
    await store.mail.expunge(inbox.id, [])
    index = await store.mail.mailbox_index(inbox.id)
    metas = await store.mail.message_index(inbox.id)
    assert index.uids == [m.uid for m in metas] == [1, 2, 3, 4, 5]
    assert index.modseqs == [m.modseq for m in metas]
    assert index.flags == [m.flags for m in metas]
    assert index.flags[1] is index.flags[3]  # equal sets are shared


async def test_listing_and_batch_reads(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    for i in range(3):
        await store.mail.append(inbox.id, MSG + bytes([48 + i]))
    listing = await store.mail.message_listing(inbox.id)
    assert [m.uid for m in listing] == [1, 2, 3] and all(m.parsed == "" for m in listing)
    raws = await store.mail.read_raws(listing)
    assert [raws[m.id] for m in listing] == [MSG + b"0", MSG + b"1", MSG + b"2"]
    await store.mail.delete_messages(inbox.id, [Uid(2)])
    assert set(await store.mail.read_raws(listing)) == {listing[0].id, listing[2].id}


async def test_migration_at_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = await Store.connect(url)
    await store.accounts.add_domain("example.org")
    await store.close()
    db = sqlite3.connect(tmp_path / "m.db")
    db.execute("DROP TABLE locks")  # a table added by a later version
    db.commit()
    db.close()
    store = await Store.connect(url)  # creates what is missing, keeps the data
    assert [d.name for d in await store.accounts.list_domains()] == ["example.org"]
    await store.close()
    db = sqlite3.connect(tmp_path / "m.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "locks" in tables
    db.execute("UPDATE meta SET value = '999' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer than this postfach"):
        await Store.connect(url)


async def test_store_flags_on_many_messages(store: Store) -> None:
    """More UIDs than one IN list takes: the range path, with gaps left out."""
    from postfach.store import NewMessage
    from postfach.store.blobs import prepare_blob

    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    batch = [NewMessage(inbox.id, prepare_blob(MSG + b"%d" % i)) for i in range(700)]
    await store.mail.add_messages(batch)
    wanted = [Uid(u) for u in range(1, 701) if u % 7]
    changed, failed = await store.mail.store_flags(inbox.id, wanted, "add", frozenset({"\\Seen"}))
    assert [m.uid for m in changed] == wanted and failed == []
    index = await store.mail.mailbox_index(inbox.id)
    seen = [u for u, f in zip(index.uids, index.flags, strict=True) if "\\Seen" in f]
    assert seen == wanted
    assert len({m.modseq for m in changed}) == 1


async def test_expunge_frees_quota_and_only_unreferenced_blobs(store: Store) -> None:
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    trash = await store.mailboxes.get_mailbox(account.id, "Trash")
    assert inbox and trash
    await store.mail.append(inbox.id, MSG)
    await store.mail.copy_messages(inbox.id, [Uid(1)], trash.id)  # one blob, two messages
    [message] = await store.mail.get_messages(inbox.id, [Uid(1)])
    await store.mail.store_flags(inbox.id, [Uid(1)], "add", frozenset({"\\Deleted"}))
    with store.hub.watch(account.id) as changes:
        assert await store.mail.expunge(inbox.id) == [1]
        change = changes.get_nowait()
    assert isinstance(change, ChangeExpunge) and change.uids == (1,)
    assert await store.mail.read_blob(message.blob_sha256) == MSG  # Trash still refers to it
    assert (await store.accounts.get_account_by_id(account.id)).used_bytes == len(MSG)  # type: ignore[union-attr]
    assert await store.mail.expunge(trash.id) == []  # not flagged \\Deleted
    assert await store.mail.delete_messages(trash.id, [Uid(1)]) == [1]
    with pytest.raises(NotFound):
        await store.mail.read_blob(message.blob_sha256)
    assert (await store.accounts.get_account_by_id(account.id)).used_bytes == 0  # type: ignore[union-attr]
    many = [Uid(u) for u in range(1, 700)]
    assert await store.mail.delete_messages(trash.id, many) == []


async def test_changes_since_in_one_snapshot(store: Store) -> None:
    """What an IMAP session reads before each command: HIGHESTMODSEQ, the messages
    changed or added since a MODSEQ, and the UIDs expunged since."""
    account = await _account(store)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    for _ in range(3):
        await store.mail.append(inbox.id, MSG)
    start = (await store.mailboxes.get_mailbox_by_id(inbox.id)).highestmodseq  # type: ignore[union-attr]
    quiet = await store.mail.changes_since(inbox.id, start)
    assert quiet is not None and (quiet.highestmodseq, quiet.changed, quiet.expunged) == (
        start,
        [],
        [],
    )
    await store.mail.store_flags(inbox.id, [Uid(1)], "add", frozenset({"$Work", "\\Deleted"}))
    await store.mail.expunge(inbox.id)
    await store.mail.store_flags(inbox.id, [Uid(2)], "add", frozenset({"\\Seen"}))
    await store.mail.append(inbox.id, MSG, frozenset({"$Later"}))
    news = await store.mail.changes_since(inbox.id, start)
    assert news is not None and news.highestmodseq == start + 4
    assert [(m.uid, m.flags) for m in news.changed] == [
        (2, frozenset({"\\Seen"})),
        (4, frozenset({"$Later"})),
    ]
    assert news.expunged == [1]
    assert await store.mail.changes_since(MailboxId(999_999), start) is None


async def test_a_delivery_batch_is_judged_item_by_item(store: Store) -> None:
    """One batch (SQLite's fast path, PostgreSQL's asyncpg path): a message that
    fits, one past the quota, one for a mailbox that is gone, the same content
    twice; each answered alone, UIDs in order, the quota charged for what was
    stored, every stored message announced."""
    from postfach.store import NewMessage
    from postfach.store.blobs import prepare_blob

    account = await _account(store, quota=3 * len(MSG) + 20)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    trash = await store.mailboxes.special_mailbox(account.id, "\\Trash")
    assert inbox is not None and trash is not None
    blob = prepare_blob(MSG)
    batch = [
        NewMessage(inbox.id, blob),
        NewMessage(MailboxId(999_999), blob),
        NewMessage(trash.id, blob, b"X-Copy: 1\r\n", frozenset({"\\Seen"})),
        NewMessage(inbox.id, prepare_blob(MSG + b"more")),
        NewMessage(inbox.id, prepare_blob(MSG + b"too much")),
    ]
    with store.hub.watch(account.id) as queue:
        results = await store.mail.add_messages(batch)
        changes = [queue.get_nowait() for _ in range(queue.qsize())]
    assert results[0] == Uid(1) and results[2] == Uid(1) and results[3] == Uid(2)
    assert isinstance(results[1], NotFound) and isinstance(results[4], OverQuota)
    added = [c for c in changes if isinstance(c, ChangeAddUid)]
    assert sorted((c.mailbox_id, c.uid) for c in added) == sorted(
        [(inbox.id, 1), (inbox.id, 2), (trash.id, 1)]
    )
    assert [c.flags for c in added if c.mailbox_id == trash.id] == [frozenset({"\\Seen"})]
    charged = (await store.accounts.get_account_by_id(account.id)).used_bytes
    assert charged == 3 * len(MSG) + len(b"X-Copy: 1\r\n") + len(b"more")
    stored = await store.mail.get_messages(trash.id, [Uid(1)])
    assert stored[0].prefix == b"X-Copy: 1\r\n" and stored[0].flags == frozenset({"\\Seen"})


async def test_postgres_direct_pool_rolls_back_a_cut_transaction(store: Store) -> None:
    """A batch cancelled inside its transaction returns its connection to the
    pool; the next user of that connection must not find the transaction open
    (asyncpg's pool rolls it back, though the pool's reset query is left out)."""
    if store.pg_direct is None:
        pytest.skip("PostgreSQL's asyncpg pool")
    pool = await store.pg_direct._open()
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        assert conn.is_in_transaction()
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
