"""\\Recent (RFC 3501 §2.3.2, one session per message) and case-insensitive keywords."""

from __future__ import annotations

from tests.imap.messages import SIMPLE, literal


async def _deliver(imap, n: int = 1) -> None:
    store = imap.ctx.store
    account = await store.accounts.get_account("a@example.org")
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    for _ in range(n):
        await store.mail.append(inbox.id, SIMPLE)


async def test_recent_belongs_to_the_first_session(imap, wire):
    await _deliver(imap, 2)
    a = await wire()
    assert "* 2 RECENT" in await a.ok("SELECT INBOX")
    assert await a.ok("FETCH 1:2 FLAGS") == [
        "* 1 FETCH (FLAGS (\\Recent))",
        "* 2 FETCH (FLAGS (\\Recent))",
    ]
    b = await wire()
    assert "* 0 RECENT" in await b.ok("SELECT INBOX")
    assert await b.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS ())"]
    assert await b.ok("SEARCH RECENT") == ["* SEARCH"]
    await _deliver(imap)
    assert await b.ok("NOOP") == ["* 3 EXISTS", "* 1 RECENT"]  # b hears of it first
    assert await a.ok("NOOP") == ["* 3 EXISTS"]  # a's count stays 2: no RECENT response
    assert await a.ok("SEARCH RECENT") == ["* SEARCH 1 2"]
    assert await b.ok("SEARCH NEW") == ["* SEARCH 3"]
    assert await a.ok("UNSELECT") == []
    assert "* 0 RECENT" in await a.ok("SELECT INBOX")  # claimed once, gone for good


async def test_examine_and_status_do_not_take_recent(imap, wire):
    await _deliver(imap, 2)
    c = await wire()
    assert await c.ok("STATUS INBOX (RECENT)") == ["* STATUS INBOX (RECENT 2)"]
    assert "* 2 RECENT" in await c.ok("EXAMINE INBOX")
    assert "* 2 RECENT" in await c.ok("EXAMINE INBOX")
    assert "* 2 RECENT" in await c.ok("SELECT INBOX")
    assert await c.ok("STATUS INBOX (RECENT MESSAGES)") == ["* STATUS INBOX (RECENT 0 MESSAGES 2)"]
    other = await wire()
    assert "* 0 RECENT" in await other.ok("SELECT INBOX")


async def test_rev2_sessions_neither_see_nor_take_recent(imap, wire):
    await _deliver(imap)
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    untagged = await c.ok("SELECT INBOX")
    assert not any("RECENT" in line for line in untagged)
    assert await c.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS ())"]
    d = await wire()
    assert "* 1 RECENT" in await d.ok("SELECT INBOX")


async def test_expunge_drops_recent_silently(imap, wire):
    await _deliver(imap, 2)
    c = await wire(select="INBOX")
    await c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert await c.ok("EXPUNGE") == ["* 1 EXPUNGE"]
    assert await c.ok("SEARCH RECENT") == ["* SEARCH 1"]


async def test_keywords_are_case_insensitive(wire):
    c = await wire()
    await c.ok(b"APPEND INBOX ($Label1) " + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await wire(select="INBOX")  # takes \Recent
    untagged = await c.ok("SELECT INBOX")
    assert "* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Label1)" in untagged
    assert await c.ok("STORE 2 +FLAGS ($LABEL1 \\seen)") == ["* 2 FETCH (FLAGS (\\Seen $Label1))"]
    assert await c.ok("SEARCH KEYWORD $label1") == ["* SEARCH 1 2"]
    assert await c.ok("SEARCH UNKEYWORD $LABEL1") == ["* SEARCH"]
    assert await c.ok("STORE 1 -FLAGS ($label1)") == ["* 1 FETCH (FLAGS ())"]
    await c.ok(b"APPEND INBOX ($LABEL1) " + literal(SIMPLE))
    assert await c.ok("FETCH 3 FLAGS") == ["* 3 FETCH (FLAGS (\\Recent $Label1))"]
    assert await c.ok("SEARCH KEYWORD $LaBeL1") == ["* SEARCH 2 3"]
