"""Arbitrary lines sent to a live session in each state: always a response, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from tests.imap.fuzzlines import answer_each, draw_lines
from tests.imap.messages import SIMPLE, literal

WORDS = st.sampled_from(
    [
        "FETCH",
        "UID",
        "STORE",
        "SEARCH",
        "SELECT",
        "LIST",
        "STATUS",
        "COPY",
        "MOVE",
        "EXPUNGE",
        "SORT",
        "THREAD",
        "APPEND",
        "CREATE",
        "RENAME",
        "ENABLE",
        "ID",
        "1",
        "1:*",
        "*",
        "$",
        "(",
        ")",
        "[",
        "]",
        "BODY[1.MIME]",
        "BODY.PEEK[]<0.1>",
        "FLAGS",
        "+FLAGS",
        "\\Seen",
        '"a b"',
        "INBOX",
        "&AMQ-",
        "NOT",
        "OR",
        "ALL",
        "RETURN",
        "(SAVE)",
        "CHARSET",
        "UTF-8",
        "{0+}",
        "%",
        "RETURN (PARTIAL",
        "-1:-5",
        "1:2)",
        "(MIN MAX COUNT)",
        "(DISPLAYFROM)",
        "SAVEDSINCE",
        "1-Jan-2024",
        "EMAILID",
        "THREADID",
        "(MAILBOXID)",
        "(SAVEDATE EMAILID THREADID)",
        "CATENATE (URL",
        '"/INBOX/;UID=1/;SECTION=1"',
        "TEXT {1+}",
        "RETURN (UPDATE)",
        "CANCELUPDATE",
        "NOTIFY SET",
        "(selected (MessageNew MessageExpunge))",
        "(personal (MailboxName))",
    ]
)
LINES = st.lists(
    WORDS | st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=6),
    min_size=1,
    max_size=8,
).map(lambda ws: " ".join(ws))


@pytest.mark.parametrize("state", ["not-authenticated", "authenticated", "selected"])
async def test_live_session_survives_arbitrary_lines(wire, state):
    c = await wire(login=state != "not-authenticated")
    if state == "selected":
        await c.ok(b"APPEND INBOX " + literal(SIMPLE))
        await c.ok("SELECT INBOX")
    if await answer_each(c, draw_lines(LINES)):
        await c.ok("NOOP")


async def test_overlong_line_gets_bad(wire):
    c = await wire()
    await c.send(b"a1 NOOP " + b"x" * 100_000 + b"\r\n")
    assert await c.line() == "a1 BAD Line too long"
    await c.ok("NOOP")


async def test_too_many_bad_commands_end_session(wire):
    c = await wire(login=False)
    for _ in range(20):
        await c.send(b"x FROB\r\n")
    lines = [await c.line() for _ in range(21)]
    assert lines[-1] == "* BYE Too many invalid commands"
