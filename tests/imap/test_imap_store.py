"""STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, APPEND (MULTIAPPEND, APPENDUID, TRYCREATE)."""

from __future__ import annotations

import re

from tests.imap.messages import SIMPLE, literal


async def filled(wire, n=3):
    c = await wire()
    for _ in range(n):
        await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await wire(select="INBOX")  # another session sees them first: not \Recent in c
    await c.ok("SELECT INBOX")
    return c


async def test_store_modes(wire):
    c = await filled(wire)
    assert await c.ok("STORE 1 +FLAGS (\\Seen $Label1)") == [
        "* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Label1)",  # a new keyword
        "* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Label1 \\*)]"
        " Flags permitted",
        "* 1 FETCH (FLAGS (\\Seen $Label1))",
    ]
    assert await c.ok("STORE 1 -FLAGS $Label1") == ["* 1 FETCH (FLAGS (\\Seen))"]
    assert await c.ok("STORE 1:2 FLAGS (\\Flagged)") == [
        "* 1 FETCH (FLAGS (\\Flagged))",
        "* 2 FETCH (FLAGS (\\Flagged))",
    ]
    assert await c.ok("STORE 2 +FLAGS.SILENT (\\Answered)") == []
    assert await c.ok("UID STORE 3 +FLAGS (\\Draft)") == ["* 3 FETCH (UID 3 FLAGS (\\Draft))"]
    assert await c.ok("FETCH 1:3 FLAGS") == [
        "* 1 FETCH (FLAGS (\\Flagged))",
        "* 2 FETCH (FLAGS (\\Answered \\Flagged))",
        "* 3 FETCH (FLAGS (\\Draft))",
    ]
    assert await c.bad("STORE 1 +FLAGS (\\Recent)") == "BAD \\Recent and \\* cannot be stored"
    assert await c.bad("STORE 9 +FLAGS (\\Seen)") == "BAD Invalid message sequence number"


async def test_expunge_and_uid_expunge(wire):
    c = await filled(wire, 5)
    await c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    assert await c.ok("UID EXPUNGE 4:5") == ["* 4 EXPUNGE"]
    assert await c.ok("EXPUNGE") == ["* 2 EXPUNGE"]
    assert await c.ok("FETCH 1:* UID") == [
        "* 1 FETCH (UID 1)",
        "* 2 FETCH (UID 3)",
        "* 3 FETCH (UID 5)",
    ]
    await c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert await c.ok("EXPUNGE") == ["* 1 EXPUNGE", "* 1 EXPUNGE", "* 1 EXPUNGE"]


async def test_copy_with_copyuid_and_trycreate(wire):
    c = await filled(wire)
    _, status = await c.cmd("COPY 2:3 Sent")
    assert re.fullmatch(r"OK \[COPYUID \d+ 2:3 1:2\] COPY completed", status)
    assert await c.no("COPY 1 Nowhere") == "NO [TRYCREATE] Mailbox does not exist"
    assert await c.ok("STATUS Sent (MESSAGES)") == ["* STATUS Sent (MESSAGES 2)"]
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 3)"]


async def test_move_to_trash(wire):
    c = await filled(wire)
    untagged, status = await c.cmd("MOVE 1:2 Trash")
    assert re.fullmatch(r"\* OK \[COPYUID \d+ 1:2 1:2\] Moved", untagged[0])
    assert untagged[1:] == ["* 1 EXPUNGE", "* 1 EXPUNGE"]
    assert status == "OK MOVE completed"
    untagged, status = await c.cmd("UID MOVE 3 Trash")
    assert untagged[1:] == ["* 1 EXPUNGE"]
    assert await c.ok("STATUS Trash (MESSAGES)") == ["* STATUS Trash (MESSAGES 3)"]
    assert await c.ok("FETCH 1:* FLAGS") == []


async def test_append_multi_and_appenduid(wire):
    c = await wire()
    _, status = await c.cmd(b"APPEND Drafts (\\Draft) " + literal(SIMPLE) + b" " + literal(SIMPLE))
    assert re.fullmatch(r"OK \[APPENDUID \d+ 1:2\] APPEND completed", status)
    assert await c.no(b"APPEND Nope " + literal(SIMPLE)) == "NO [TRYCREATE] Mailbox does not exist"


async def test_append_sync_literal_continuation(wire):
    c = await wire()
    await c.send(b"a APPEND INBOX {%d}\r\n" % len(SIMPLE))
    assert await c.line() == "+ Ready for literal data"
    await c.send(SIMPLE + b"\r\n")
    _, status = await c.until_tagged("a")
    assert status.startswith("OK [APPENDUID ")


async def test_append_too_big(imap, wire):
    c = await wire()
    limit = imap.ctx.config.limits.max_message_size
    await c.send(b"a APPEND INBOX {%d}\r\n" % (limit + 1))
    assert await c.line() == "a NO [TOOBIG] Literal too big"
    await c.send(b"b APPEND INBOX {%d+}\r\n" % (limit + 1))
    await c.send(b"x" * (limit + 1) + b"\r\n")
    assert await c.line() == "b NO [TOOBIG] Literal too big"
    await c.ok("NOOP")


async def test_append_into_selected_mailbox_reports_exists(wire):
    c = await wire(select="INBOX")
    untagged = await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert untagged == ["* 1 EXISTS", "* 1 RECENT"]
