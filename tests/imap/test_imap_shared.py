"""Sessions on one mailbox see each other's committed changes at their next command,
on one node and across two nodes of one database (where the hub's news comes late or,
on SQLite, never): APPEND, COPY, STORE, EXPUNGE and CLOSE of session A are reported by
the next NOOP, CHECK or any other command of session B, before that command's own
data, and a keyword new to the mailbox is announced with FLAGS and PERMANENTFLAGS
before any FETCH shows it (RFC 9051 §7.3.5)."""

from __future__ import annotations

import pytest
from tests.imap.messages import SIMPLE, literal

SYSTEM = "\\Answered \\Deleted \\Draft \\Flagged \\Seen"


@pytest.fixture(params=["same node", "other node"])
def pair(request, wire, wire_b):
    """(a, b): three messages in INBOX, both sessions with it selected."""
    connect_b = wire if request.param == "same node" else wire_b

    async def make(n=3):
        a = await wire()
        for _ in range(n):
            await a.ok(b"APPEND INBOX " + literal(SIMPLE))
        await a.ok("ENABLE IMAP4rev2")  # no \Recent to keep track of
        await a.ok("SELECT INBOX")
        b = await connect_b()
        await b.ok("ENABLE IMAP4rev2")
        await b.ok("SELECT INBOX")
        return a, b

    return make


def keyword_lines(*keywords: str) -> list[str]:
    listed = " ".join((SYSTEM, *keywords))
    return [f"* FLAGS ({listed})", f"* OK [PERMANENTFLAGS ({listed} \\*)] Flags permitted"]


async def test_store_reported_at_next_noop(pair):
    a, b = await pair()
    await a.ok("STORE 2 +FLAGS (\\Flagged)")
    assert await b.ok("NOOP") == ["* 2 FETCH (UID 2 FLAGS (\\Flagged))"]
    assert await b.ok("NOOP") == []


async def test_append_reported_at_next_check(pair):
    a, b = await pair()
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await b.ok("CHECK") == ["* 4 EXISTS"]
    assert await b.ok("FETCH 4 UID") == ["* 4 FETCH (UID 4)"]


async def test_any_command_reports_the_change_before_its_own_data(pair):
    a, b = await pair()
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("STORE 1 +FLAGS (\\Seen)")
    # the client may not know message 4 yet, but it does by the time it is shown
    assert await b.ok("FETCH 4 (UID FLAGS)") == [
        "* 4 EXISTS",
        "* 1 FETCH (UID 1 FLAGS (\\Seen))",
        "* 4 FETCH (UID 4 FLAGS ())",
    ]


async def test_copy_into_the_selected_mailbox_reported(pair):
    a, b = await pair()
    await a.ok("CREATE Other")
    await a.ok(b"APPEND Other " + literal(SIMPLE))
    await a.ok("SELECT Other")
    await a.ok("COPY 1 INBOX")
    assert await b.ok("NOOP") == ["* 4 EXISTS"]
    assert await b.ok("UID FETCH 4 UID") == ["* 4 FETCH (UID 4)"]


async def test_expunge_reported_and_numbers_follow(pair):
    a, b = await pair()
    await a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    await a.ok("EXPUNGE")
    assert await b.ok("NOOP") == ["* 2 EXPUNGE"]
    assert await b.ok("FETCH 2 UID") == ["* 2 FETCH (UID 3)"]
    assert await b.bad("FETCH 3 UID") == "BAD Invalid message sequence number"


async def test_expunge_held_back_during_fetch(pair):
    a, b = await pair()
    await a.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    await a.ok("EXPUNGE")
    # message 3 is still 3 to b during a FETCH by number; the next UID command tells
    assert await b.ok("FETCH 1:3 UID") == [
        "* 1 FETCH (UID 1)",
        "* 2 FETCH (UID 2)",
        "* 3 FETCH (UID 3)",
    ]
    assert await b.ok("UID FETCH 1:* UID") == [
        "* 3 EXPUNGE",
        "* 1 FETCH (UID 1)",
        "* 2 FETCH (UID 2)",
    ]


async def test_close_expunges_reported(pair):
    a, b = await pair()
    await a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    await a.ok("CLOSE")
    assert await b.ok("NOOP") == ["* 1 EXPUNGE"]
    assert await b.ok("FETCH 1:* UID") == ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]


async def test_stored_keyword_announced_before_fetch(pair):
    a, b = await pair()
    assert await a.ok("STORE 1 +FLAGS ($Project)") == [
        *keyword_lines("$Project"),
        "* 1 FETCH (FLAGS ($Project))",
    ]
    assert await b.ok("NOOP") == [
        *keyword_lines("$Project"),
        "* 1 FETCH (UID 1 FLAGS ($Project))",
    ]
    await a.ok("STORE 2 +FLAGS ($project)")  # the mailbox's spelling, no new keyword
    assert await b.ok("NOOP") == ["* 2 FETCH (UID 2 FLAGS ($Project))"]


async def test_stored_keyword_announced_before_fetch_of_the_same_command(pair):
    a, b = await pair()
    await a.ok("STORE 1 +FLAGS.SILENT ($Later)")
    assert await b.ok("FETCH 1 FLAGS") == [
        *keyword_lines("$Later"),
        "* 1 FETCH (UID 1 FLAGS ($Later))",
        "* 1 FETCH (FLAGS ($Later))",
    ]


async def test_appended_keyword_announced(pair):
    a, b = await pair()
    await a.ok(b"APPEND INBOX ($Todo) " + literal(SIMPLE))
    assert await b.ok("NOOP") == [*keyword_lines("$Todo"), "* 4 EXISTS"]
    assert await b.ok("FETCH 4 FLAGS") == ["* 4 FETCH (FLAGS ($Todo))"]


async def test_copied_keyword_announced(pair):
    a, b = await pair()
    await a.ok("CREATE Other")
    await a.ok(b"APPEND Other ($Archive) " + literal(SIMPLE))
    await a.ok("SELECT Other")
    await a.ok("COPY 1 INBOX")
    assert await b.ok("NOOP") == [*keyword_lines("$Archive"), "* 4 EXISTS"]


async def test_own_append_of_a_keyword_announced(wire):
    a = await wire()
    await a.ok("ENABLE IMAP4rev2")
    await a.ok("SELECT INBOX")
    assert await a.ok(b"APPEND INBOX ($Mine) " + literal(SIMPLE)) == [
        *keyword_lines("$Mine"),
        "* 1 EXISTS",
    ]
