"""SELECT/EXAMINE responses, CLOSE, UNSELECT, CHECK, CONDSTORE and QRESYNC resynchronisation."""

from __future__ import annotations

import re

from tests.imap.messages import SIMPLE, literal


async def test_select_empty_inbox(wire):
    c = await wire()
    untagged, status = await c.cmd("SELECT INBOX")
    assert untagged[0] == "* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)"
    assert (
        untagged[1]
        == "* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen \\*)] Flags permitted"  # noqa: E501
    )
    assert untagged[2:4] == ["* 0 EXISTS", "* 0 RECENT"]
    assert re.fullmatch(r"\* OK \[UIDVALIDITY \d+\] UIDs valid", untagged[4])
    assert untagged[5] == "* OK [UIDNEXT 1] Predicted next UID"
    assert re.fullmatch(r"\* OK \[HIGHESTMODSEQ \d+\] Highest", untagged[6])
    assert re.fullmatch(r"\* OK \[MAILBOXID \(F[0-9a-f]{24}\)\] Ok", untagged[7])  # RFC 8474
    assert untagged[8] == "* OK [URLMECH INTERNAL] Ok"  # RFC 4467
    assert len(untagged) == 9
    assert status == "OK [READ-WRITE] SELECT completed"


async def test_select_with_messages_and_keywords(wire):
    c = await wire()
    await c.ok(b"APPEND INBOX (\\Seen $Forwarded) " + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    untagged = await c.ok("SELECT INBOX")
    assert untagged[0] == "* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Forwarded)"
    assert "* 2 EXISTS" in untagged
    assert "* OK [UNSEEN 2] First unseen" in untagged
    assert "* OK [UIDNEXT 3] Predicted next UID" in untagged


async def test_select_rev2_has_list_and_no_recent(wire):
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    untagged = await c.ok("SELECT Sent")
    assert '* LIST () "/" Sent' in untagged
    assert not any("RECENT" in line for line in untagged)


async def test_examine_is_read_only(wire):
    c = await wire()
    await c.ok(b"APPEND INBOX (\\Deleted) " + literal(SIMPLE))
    untagged, status = await c.cmd("EXAMINE INBOX")
    assert "* OK [PERMANENTFLAGS ()] Flags permitted" in untagged
    assert status == "OK [READ-ONLY] EXAMINE completed"
    assert await c.no("STORE 1 +FLAGS \\Seen") == "NO [READ-ONLY] Mailbox is read-only"
    assert await c.no("EXPUNGE") == "NO [READ-ONLY] Mailbox is read-only"
    await c.ok("FETCH 1 BODY[]")
    # no \Seen in EXAMINE; recent, but not taken from the next SELECT (RFC 3501 §6.3.2)
    assert await c.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Deleted \\Recent))"]
    await c.ok("CLOSE")  # no expunge from a read-only mailbox
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 1)"]


async def test_select_missing_leaves_selected_state(wire):
    c = await wire(select="INBOX")
    untagged, status = await c.cmd("SELECT Nope")
    assert untagged == ["* OK [CLOSED] Previous mailbox closed"]
    assert status == "NO [NONEXISTENT] No such mailbox"
    assert await c.no("FETCH 1 FLAGS") == "NO Command not allowed in this state"


async def test_close_expunges_unselect_does_not(wire):
    c = await wire()
    for _ in range(2):
        await c.ok(b"APPEND INBOX (\\Deleted) " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    assert await c.ok("UNSELECT") == []
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 2)"]
    await c.ok("SELECT INBOX")
    assert await c.ok("CHECK") == []
    assert await c.ok("CLOSE") == []
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 0)"]
    assert await c.no("CLOSE") == "NO Command not allowed in this state"


async def test_condstore_select_and_changedsince(wire):
    c = await wire()
    for _ in range(3):
        await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await wire(select="INBOX")  # another session takes \Recent
    untagged = await c.ok("SELECT INBOX (CONDSTORE)")
    highest = int(
        next(
            re.search(r"HIGHESTMODSEQ (\d+)", x).group(1) for x in untagged if "HIGHESTMODSEQ" in x
        )
    )
    [line] = await c.ok("STORE 2 +FLAGS (\\Flagged)")
    modseq = int(re.search(r"MODSEQ \((\d+)\)", line).group(1))
    assert line == f"* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({modseq}))"
    assert modseq > highest
    assert await c.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})") == [
        f"* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({modseq}))"
    ]
    _, status = await c.cmd(f"STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Seen)")
    assert status == "OK [MODIFIED 2] Conditional STORE failed"
    assert await c.ok(f"SEARCH MODSEQ {modseq}") == [f"* SEARCH 1 2 (MODSEQ {modseq + 1})"]


async def test_qresync(wire):
    c = await wire()
    for _ in range(4):
        await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok("ENABLE QRESYNC")
    untagged = await c.ok("SELECT INBOX")
    validity = next(
        re.search(r"UIDVALIDITY (\d+)", x).group(1) for x in untagged if "UIDVALIDITY" in x
    )
    highest = next(
        re.search(r"HIGHESTMODSEQ (\d+)", x).group(1) for x in untagged if "HIGHESTMODSEQ" in x
    )
    await c.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    untagged = await c.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert untagged and "MODSEQ" in untagged[0]
    assert await c.ok("UID EXPUNGE 2") == ["* VANISHED 2"]
    await c.ok("UNSELECT")
    untagged = await c.ok(f"SELECT INBOX (QRESYNC ({validity} {highest} 1:4))")
    assert "* VANISHED (EARLIER) 2" in untagged
    assert any(
        re.fullmatch(r"\* 1 FETCH \(UID 1 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)", x) for x in untagged
    )
    assert untagged.index("* VANISHED (EARLIER) 2") > untagged.index("* 3 EXISTS")
    assert await c.ok(f"UID FETCH 1:* FLAGS (CHANGEDSINCE {highest} VANISHED)") == [
        "* VANISHED (EARLIER) 2",
        f"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ({int(highest) + 1}))",
    ]


async def test_qresync_requires_enable(wire):
    c = await wire()
    assert await c.bad("SELECT INBOX (QRESYNC (1 1))") == "BAD QRESYNC is not enabled"
