"""ESORT (RFC 5267 §3), PARTIAL (RFC 9394) and SORT=DISPLAY (RFC 5957) over the
wire, with transcripts after the RFCs' examples."""

from __future__ import annotations

from tests.imap.messages import literal

# (From, Subject, Date day) of messages 1..6; DISPLAYFROM sorts on the display
# name, else the address (RFC 5957 §4); FROM on the mailbox part (RFC 5256).
MESSAGES = [
    ('"Zed Zulu" <alpha@example.net>', "delta", 4),
    ("<mike@example.net>", "alpha", 6),
    ('"Bob Boo" <zulu@example.net>', "charlie", 1),
    ("=?utf-8?q?Anne?= <echo@example.net>", "bravo", 3),
    ("<Beta@example.net>", "echo", 5),
    ('"Carl" <carl@example.net>', "foxtrot", 2),
]


def message(sender: str, subject: str, day: int) -> bytes:
    return (
        f"From: {sender}\r\nTo: a@example.org\r\nSubject: {subject}\r\n"
        f"Date: Mon, {day:02d} Jan 2024 10:00:00 +0000\r\n"
        f"Message-ID: <m{day}@example.net>\r\n\r\nbody {subject}\r\n"
    ).encode()


async def mailbox(wire_any):
    c = await wire_any()
    for sender, subject, day in MESSAGES:
        await c.ok(b"APPEND INBOX " + literal(message(sender, subject, day)))
    await c.ok("SELECT INBOX")
    await c.ok("STORE 2,5 +FLAGS (\\Deleted)")
    return c


async def test_capabilities(wire_any):
    c = await wire_any()
    (line,) = await c.ok("CAPABILITY")
    assert {"ESORT", "PARTIAL", "SORT=DISPLAY"} <= set(line.split())


async def test_sort_display(wire_any):
    c = await mailbox(wire_any)
    # display names: Zed Zulu, (mike@), Bob Boo, Anne (encoded), (Beta@), Carl
    assert await c.ok("SORT (DISPLAYFROM) UTF-8 ALL") == ["* SORT 4 5 3 6 2 1"]
    assert await c.ok("SORT (FROM) UTF-8 ALL") == ["* SORT 1 5 6 4 2 3"]
    assert await c.ok("SORT (REVERSE DISPLAYFROM) UTF-8 UNDELETED") == ["* SORT 1 6 3 4"]
    assert await c.ok("UID SORT (DISPLAYTO SUBJECT) UTF-8 ALL") == ["* SORT 2 4 3 1 5 6"]


async def test_esort_min_max_count_all(wire_any):
    """RFC 5267 §3.1 examples A282-A301: MIN and MAX are the first and last in sort order."""
    c = await mailbox(wire_any)
    assert await c.ok("SORT (DATE) UTF-8 ALL") == ["* SORT 3 6 4 1 5 2"]
    tag = "A282"
    assert await c.cmd("SORT RETURN (MIN) (REVERSE DATE) UTF-8 SINCE 1-Feb-1994", tag) == (
        [f'* ESEARCH (TAG "{tag}") MIN 2'],
        "OK SORT completed",
    )
    assert await c.ok("SORT RETURN (MIN MAX) (REVERSE SUBJECT) UTF-8 UNDELETED") == [
        f'* ESEARCH (TAG "{c.last_tag}") MIN 6 MAX 4'
    ]
    assert await c.ok("UID SORT RETURN (COUNT) (DATE) UTF-8 UNDELETED") == [
        f'* ESEARCH (TAG "{c.last_tag}") UID COUNT 4'
    ]
    assert await c.ok("SORT RETURN (ALL) (DATE) UTF-8 ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") ALL 3,6,4,1,5,2'
    ]
    assert await c.ok("SORT RETURN () (SUBJECT) UTF-8 ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") ALL 2,4,3,1,5:6'
    ]
    assert await c.ok("SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 SUBJECT nothing") == [
        f'* ESEARCH (TAG "{c.last_tag}") COUNT 0'
    ]


async def test_partial_search_and_sort(wire_any):
    """RFC 9394 §3.1: PARTIAL 1:n from the first result, -1:-n from the last;
    a range beyond the result is NIL; 500:400 means 400:500."""
    c = await mailbox(wire_any)
    t = c.next_tag
    tag = t()
    assert await c.cmd("UID SEARCH RETURN (PARTIAL 1:2) ALL", tag) == (
        [f'* ESEARCH (TAG "{tag}") UID PARTIAL (1:2 1:2)'],
        "OK SEARCH completed",
    )
    assert await c.ok("SEARCH RETURN (PARTIAL -1:-3) UNDELETED") == [
        f'* ESEARCH (TAG "{c.last_tag}") PARTIAL (-1:-3 3:4,6)'
    ]
    assert await c.ok("SEARCH RETURN (PARTIAL 5:3 COUNT) ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") COUNT 6 PARTIAL (3:5 3:5)'
    ]
    assert await c.ok("SEARCH RETURN (PARTIAL 7:100) ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") PARTIAL (7:100 NIL)'
    ]
    assert await c.ok("SEARCH RETURN (PARTIAL -7:-9) ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") PARTIAL (-7:-9 NIL)'
    ]
    # in sort order: 3 6 4 1 5 2 by date
    assert await c.ok("SORT RETURN (PARTIAL 2:4) (DATE) UTF-8 ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") PARTIAL (2:4 6,4,1)'
    ]
    assert await c.ok("UID SORT RETURN (PARTIAL -1:-2 MIN) (REVERSE DATE) UTF-8 ALL") == [
        f'* ESEARCH (TAG "{c.last_tag}") UID MIN 2 PARTIAL (-1:-2 6,3)'
    ]
    # SAVE keeps what PARTIAL returned (as with MIN/MAX, RFC 5182 §2.4)
    await c.ok("SEARCH RETURN (SAVE PARTIAL 1:2) UNDELETED")
    assert await c.ok("SEARCH $") == ["* SEARCH 1 3"]
    await c.ok("SORT RETURN (SAVE PARTIAL -1:-1) (DATE) UTF-8 ALL")
    assert await c.ok("UID SEARCH $") == ["* SEARCH 2"]
    await c.ok("SORT RETURN (SAVE) (REVERSE DATE) UTF-8 UNDELETED")
    assert await c.ok("SEARCH $") == ["* SEARCH 1 3 4 6"]


async def test_return_option_errors(wire_any):
    c = await mailbox(wire_any)
    assert await c.bad("SEARCH RETURN (PARTIAL 1:10 ALL) ALL") == (
        "BAD PARTIAL and ALL cannot be combined"
    )
    assert await c.bad("SEARCH RETURN (PARTIAL 0:10) ALL") == "BAD invalid partial range"
    assert await c.bad("SEARCH RETURN (PARTIAL -1:10) ALL") == "BAD invalid partial range"
    assert await c.bad("SEARCH RETURN (PARTIAL) ALL") == "BAD expected a space"
    assert await c.bad("SORT RETURN (FOO) (DATE) UTF-8 ALL") == (
        "BAD unknown search return option FOO"
    )
    assert await c.bad("SORT RETURN (MIN MIN) (DATE) UTF-8 ALL") == (
        "BAD return option MIN given twice"
    )
