"""SELECT reuses a big mailbox's index only while the mailbox row shows no change,
and the indexes kept stay within limits.imap_index_cache_messages."""

from __future__ import annotations

import pytest
from tests.imap.conftest import PASSWORD, USER
from tests.imap.imapwire import Wire
from tests.imap.messages import SIMPLE, literal

from harness import BACKENDS, make_server
from postfach.imap import indexcache


async def test_cached_index_follows_every_change(imap, wire, monkeypatch):
    monkeypatch.setattr(indexcache, "MIN_MESSAGES", 1)
    store = imap.ctx.store
    reads = []
    original = store.mail.mailbox_index

    async def mailbox_index(mailbox_id):
        reads.append(mailbox_id)
        return await original(mailbox_id)

    monkeypatch.setattr(store.mail, "mailbox_index", mailbox_index)
    a = await wire()
    for _ in range(3):
        await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("SELECT INBOX")
    await a.ok("SELECT INBOX")
    assert len(reads) == 1  # nothing changed: the kept index
    b = await wire(select="INBOX")
    assert len(reads) == 1
    await b.ok("STORE 2 +FLAGS (\\Flagged $Work)")
    await b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    await b.ok("EXPUNGE")
    await b.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("UNSELECT")
    untagged = await a.ok("SELECT INBOX")
    assert len(reads) == 2
    assert "* 3 EXISTS" in untagged
    assert await a.ok("UID FETCH 1:* (FLAGS)") == [
        "* 1 FETCH (UID 1 FLAGS ())",
        "* 2 FETCH (UID 2 FLAGS (\\Flagged $Work))",
        "* 3 FETCH (UID 4 FLAGS ())",
    ]
    assert await a.ok("SELECT INBOX") and len(reads) == 2
    await a.ok("STORE 1 +FLAGS.SILENT (\\Seen)")  # changed by the selecting session itself
    await a.ok("SELECT INBOX")
    assert len(reads) == 3
    assert await a.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Seen))"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_cache_holds_at_most_its_messages(tmp_path, monkeypatch, backend):
    """limits.imap_index_cache_messages bounds the messages kept over all mailboxes:
    the least recently selected goes first, a mailbox bigger than the bound is
    never kept."""
    monkeypatch.setattr(indexcache, "MIN_MESSAGES", 1)
    async with make_server(tmp_path, backend, limits={"imap_index_cache_messages": 5}) as server:
        await server.add_user(USER, PASSWORD)
        store = server.ctx.store
        cache = server.ctx.index_cache
        assert isinstance(cache, indexcache.IndexCache)
        reads: list[int] = []
        original = store.mail.mailbox_index

        async def mailbox_index(mailbox_id):
            reads.append(mailbox_id)
            return await original(mailbox_id)

        monkeypatch.setattr(store.mail, "mailbox_index", mailbox_index)
        c = await Wire.connect(server.host, server.port("imap"))
        try:
            await c.login(USER, PASSWORD)
            await c.ok("CREATE Work")
            for mailbox in ("INBOX", "Work"):
                for _ in range(3):
                    await c.ok(f"APPEND {mailbox} ".encode() + literal(SIMPLE))
            await c.ok("SELECT INBOX")
            await c.ok("SELECT INBOX")
            assert len(reads) == 1 and cache.messages == 3
            await c.ok("SELECT Work")  # 3 + 3 > 5: INBOX goes
            assert len(reads) == 2 and cache.messages == 3
            await c.ok("SELECT INBOX")
            assert len(reads) == 3 and cache.messages == 3
            await c.ok("SELECT INBOX")
            assert len(reads) == 3
            for _ in range(3):
                await c.ok(b"APPEND Work " + literal(SIMPLE))
            await c.ok("SELECT Work")  # 6 messages: more than the whole cache holds
            await c.ok("SELECT Work")
            assert len(reads) == 5 and cache.messages == 3
            assert "* 6 EXISTS" in await c.ok("SELECT Work")
        finally:
            await c.close()
