"""SELECT reuses a big mailbox's index only while the mailbox row shows no change."""

from __future__ import annotations

from tests.imap.messages import SIMPLE, literal

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
