"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): SEARCH/SORT RETURN (UPDATE) keeps
the result current with untagged ESEARCH ADDTO/REMOVEFROM as messages arrive,
change flags or go; CANCELUPDATE ends it. Transcripts after RFC 5267 §4.3 and
Dovecot (position 0 for SEARCH; REMOVEFROM before the EXPUNGE it explains)."""

from __future__ import annotations

from tests.imap.messages import SIMPLE, literal


async def two(wire_any, n=3):
    a = await wire_any()
    for _ in range(n):
        await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("SELECT INBOX")
    b = await wire_any(select="INBOX")
    return a, b


async def test_capabilities(wire_any):
    c = await wire_any()
    (line,) = await c.ok("CAPABILITY")
    assert {"CONTEXT=SEARCH", "CONTEXT=SORT"} <= set(line.split())


async def test_search_update_follows_arrivals_flags_and_expunges(wire_any):
    a, b = await two(wire_any)
    assert await b.cmd("UID SEARCH RETURN (UPDATE) UNSEEN", "B01") == (
        ['* ESEARCH (TAG "B01") UID ALL 1:3'],
        "OK SEARCH completed",
    )
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await b.ok("NOOP") == [
        "* 4 EXISTS",
        '* ESEARCH (TAG "B01") UID ADDTO (0 4)',
    ]
    # the session's own STORE takes a message out of the result
    assert await b.ok("STORE 1 +FLAGS (\\Seen)") == [
        "* 1 FETCH (FLAGS (\\Seen))",
        '* ESEARCH (TAG "B01") UID REMOVEFROM (0 1)',
    ]
    # another session's flag change puts it back
    await a.ok("STORE 1 -FLAGS (\\Seen)")
    assert await b.ok("NOOP") == [
        "* 1 FETCH (UID 1 FLAGS ())",
        '* ESEARCH (TAG "B01") UID ADDTO (0 1)',
    ]
    # an expunge elsewhere: REMOVEFROM before the EXPUNGE renumbers
    await a.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    await a.ok("EXPUNGE")
    lines = await b.ok("NOOP")
    assert lines == ['* ESEARCH (TAG "B01") UID REMOVEFROM (0 2)', "* 2 EXPUNGE"], lines
    assert await b.ok("NOOP") == []
    assert await b.ok('CANCELUPDATE "B01"') == []
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await b.ok("NOOP") == ["* 4 EXISTS"]


async def test_sequence_numbers_and_own_expunge(wire_any):
    a, b = await two(wire_any)
    assert await b.cmd("SEARCH RETURN (COUNT UPDATE) ALL", "S1") == (
        ['* ESEARCH (TAG "S1") COUNT 3'],
        "OK SEARCH completed",
    )
    await b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert await b.ok("EXPUNGE") == ['* ESEARCH (TAG "S1") REMOVEFROM (0 2)', "* 2 EXPUNGE"]
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await b.ok("NOOP") == ["* 3 EXISTS", '* ESEARCH (TAG "S1") ADDTO (0 3)']


async def test_sort_update_positions(wire_any):
    """RFC 5267 §4.3: for SORT, (position, message) pairs, the position 1-based in the
    list as the client has it at that step."""
    a, b = await two(wire_any)
    assert await b.cmd("UID SORT RETURN (UPDATE) (REVERSE ARRIVAL) UTF-8 UNDELETED", "C01") == (
        ['* ESEARCH (TAG "C01") UID ALL 3,2,1'],
        "OK SORT completed",
    )
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await b.ok("NOOP") == [
        "* 5 EXISTS",
        '* ESEARCH (TAG "C01") UID ADDTO (1 5 2 4)',
    ]
    await a.ok("UID STORE 2,4 +FLAGS (\\Deleted)")
    lines = await b.ok("NOOP")
    assert lines[-1] == '* ESEARCH (TAG "C01") UID REMOVEFROM (4 2 2 4)', lines


async def test_update_during_idle(wire_any):
    a, b = await two(wire_any, n=1)
    await b.cmd("UID SEARCH RETURN (MIN UPDATE) FLAGGED", "F1")
    await b.send("i IDLE\r\n")
    assert await b.line() == "+ idling"
    await a.ok("STORE 1 +FLAGS (\\Flagged)")
    assert await b.line() == "* 1 FETCH (UID 1 FLAGS (\\Flagged))"
    assert await b.line() == '* ESEARCH (TAG "F1") UID ADDTO (0 1)'
    await b.send("DONE\r\n")
    assert await b.line() == "i OK IDLE terminated"


async def test_errors_limits_and_leaving_the_mailbox(wire_any):
    _, b = await two(wire_any, n=1)
    await b.cmd("SEARCH RETURN (UPDATE) ALL", "D1")
    assert await b.cmd("SEARCH RETURN (UPDATE) ALL", "D1") == (
        [],
        "BAD Duplicate search update tag",
    )
    assert await b.bad('CANCELUPDATE "D1" "nope"') == "BAD Unknown tag"
    assert await b.bad("SEARCH RETURN (UPDATE PARTIAL 1:5) ALL") == (
        "BAD PARTIAL results are not kept updated"
    )
    for n in range(2, 11):
        await b.cmd("SEARCH RETURN (UPDATE) ALL", f"D{n}")
    assert await b.cmd("SEARCH RETURN (UPDATE) ALL", "D11") == (
        ['* ESEARCH (TAG "D11") ALL 1', '* NO [NOUPDATE "D11"] Too many updating contexts'],
        "OK SEARCH completed",
    )
    assert await b.bad("CANCELUPDATE D1") == "BAD CANCELUPDATE takes quoted tags"
    await b.ok('CANCELUPDATE "D1" "D2"')
    await b.ok("UNSELECT")
    await b.ok("SELECT INBOX")
    assert await b.bad('CANCELUPDATE "D3"') == "BAD Unknown tag"  # contexts end with the mailbox
