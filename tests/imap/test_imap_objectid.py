"""OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) over the wire, as in the RFCs' examples."""

from __future__ import annotations

import re
import time

from tests.imap.messages import MULTIPART, SIMPLE, literal

from postfach.imap.grammar import format_datetime

MAILBOXID = r"F[0-9a-f]{24}"
EMAILID = r"M[0-9a-f]{24}"


async def test_capabilities(wire_any):
    c = await wire_any()
    (line,) = await c.ok("CAPABILITY")
    assert " OBJECTID" in line and " SAVEDATE" in line


async def test_mailboxid_in_create_select_status_list_and_kept_by_rename(wire_any):
    """RFC 8474 §4.1-4.3 and §7 examples: CREATE's response code, SELECT's untagged
    OK, STATUS MAILBOXID, LIST RETURN (STATUS (MAILBOXID)); RENAME keeps the id."""
    c = await wire_any()
    _, tagged = await c.cmd("CREATE foo")
    created = re.fullmatch(rf"OK \[MAILBOXID \(({MAILBOXID})\)\] CREATE completed", tagged)
    assert created is not None, tagged
    foo = created.group(1)
    assert await c.ok("STATUS foo (MAILBOXID)") == [f"* STATUS foo (MAILBOXID ({foo}))"]
    await c.ok("RENAME foo bar")
    assert await c.ok("STATUS bar (MESSAGES MAILBOXID)") == [
        f"* STATUS bar (MESSAGES 0 MAILBOXID ({foo}))"
    ]
    untagged = await c.ok("SELECT bar")
    assert f"* OK [MAILBOXID ({foo})] Ok" in untagged
    listed = await c.ok('LIST "" "*" RETURN (STATUS (MAILBOXID))')
    inbox_status = [line for line in listed if line.startswith("* STATUS INBOX")]
    assert re.fullmatch(rf"\* STATUS INBOX \(MAILBOXID \({MAILBOXID}\)\)", inbox_status[0])
    assert f"* STATUS bar (MAILBOXID ({foo}))" in listed
    # a new folder of the same name is another folder: another id, never the old one's
    await c.ok("DELETE bar")
    _, again = await c.cmd("CREATE bar")
    assert foo not in again


async def test_mailboxid_survives_sessions(wire_any):
    first = await wire_any()
    (line,) = await first.ok("STATUS INBOX (MAILBOXID)")
    second = await wire_any()
    assert await second.ok("STATUS INBOX (MAILBOXID)") == [line]


async def test_emailid_kept_by_copy_and_move_and_threadid_nil(wire_any):
    """RFC 8474 §5.1: a COPY or MOVE keeps EMAILID; §5.2 THREADID NIL when not kept."""
    c = await wire_any()
    await c.ok("CREATE Archive")
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(MULTIPART))
    await c.ok("SELECT INBOX")
    fetched = await c.ok("FETCH 1:2 (EMAILID THREADID)")
    ids = []
    for n, line in enumerate(fetched, 1):
        m = re.fullmatch(rf"\* {n} FETCH \(EMAILID \(({EMAILID})\) THREADID NIL\)", line)
        assert m is not None, line
        ids.append(m.group(1))
    assert ids[0] != ids[1]
    await c.ok("COPY 1 Archive")
    await c.ok("MOVE 2 Archive")
    await c.ok("SELECT Archive")
    assert await c.ok("UID FETCH 1:* (EMAILID)") == [
        f"* 1 FETCH (UID 1 EMAILID ({ids[0]}))",
        f"* 2 FETCH (UID 2 EMAILID ({ids[1]}))",
    ]
    other = await wire_any(select="Archive")
    assert await other.ok("FETCH 2 EMAILID") == [f"* 2 FETCH (EMAILID ({ids[1]}))"]
    assert await c.ok(f"SEARCH EMAILID {ids[1]}") == ["* SEARCH 2"]
    assert await c.ok(f"UID SEARCH RETURN (COUNT) EMAILID {ids[0]}") == [
        f'* ESEARCH (TAG "{c.last_tag}") UID COUNT 1'
    ]
    assert await c.ok("SEARCH THREADID T64b478a75b7ea9def") == ["* SEARCH"]
    assert await c.ok("SEARCH EMAILID Mnot-there") == ["* SEARCH"]
    assert await c.bad("SEARCH EMAILID M1+2") == "BAD invalid object id"


async def test_savedate_fetch_and_search(wire_any):
    """RFC 8514 §3-4: SAVEDATE is when the message entered this mailbox, not its
    internal date; SAVED* compare its day; SAVEDATESUPPORTED matches all."""
    c = await wire_any()
    before = time.time()
    await c.ok(b'APPEND INBOX "02-Jan-2024 10:00:00 +0000" ' + literal(SIMPLE))
    after = time.time()
    await c.ok("SELECT INBOX")
    (line,) = await c.ok("FETCH 1 (INTERNALDATE SAVEDATE)")
    m = re.fullmatch(
        r'\* 1 FETCH \(INTERNALDATE "02-Jan-2024 10:00:00 \+0000" SAVEDATE "([^"]+)"\)', line
    )
    assert m is not None, line
    assert m.group(1) in {format_datetime(before), format_datetime(after)}
    today = time.strftime("%d-%b-%Y", time.gmtime(after)).lstrip("0")
    assert await c.ok("SEARCH SAVEDATESUPPORTED") == ["* SEARCH 1"]
    assert await c.ok(f"SEARCH SAVEDON {today}") == ["* SEARCH 1"]
    assert await c.ok(f"SEARCH SAVEDSINCE {today}") == ["* SEARCH 1"]
    assert await c.ok(f"SEARCH SAVEDBEFORE {today}") == ["* SEARCH"]
    assert await c.ok("SEARCH ON 2-Jan-2024") == ["* SEARCH 1"]
    assert await c.ok("SEARCH SAVEDON 2-Jan-2024") == ["* SEARCH"]
    assert await c.ok("SEARCH SAVEDBEFORE 1-Jan-2999 NOT SAVEDSINCE 1-Jan-2999") == ["* SEARCH 1"]
    assert await c.bad("SEARCH SAVEDON 31-Feb-2024") == "BAD invalid date"
