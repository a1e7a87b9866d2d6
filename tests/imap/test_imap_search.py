"""SEARCH keys, ESEARCH, SEARCHRES, SORT and THREAD."""

from __future__ import annotations

from tests.imap.messages import MULTIPART, SIMPLE, literal, reply


async def mailbox(wire):
    c = await wire()
    await c.ok(b'APPEND INBOX (\\Seen) "02-Jan-2024 10:00:00 +0000" ' + literal(SIMPLE))
    await c.ok(b'APPEND INBOX (\\Flagged) "05-Jan-2024 10:00:00 +0000" ' + literal(MULTIPART))
    await c.ok(
        b'APPEND INBOX "07-Jan-2024 10:00:00 +0000" '
        + literal(reply(3, "Re: Hello there", "<simple@example.net>", 9))
    )
    await c.ok("SELECT INBOX")
    return c


async def test_flag_and_number_keys(wire):
    c = await mailbox(wire)
    assert await c.ok("SEARCH ALL") == ["* SEARCH 1 2 3"]
    assert await c.ok("SEARCH SEEN") == ["* SEARCH 1"]
    assert await c.ok("SEARCH UNSEEN") == ["* SEARCH 2 3"]
    assert await c.ok("SEARCH FLAGGED NOT SEEN") == ["* SEARCH 2"]
    assert await c.ok("SEARCH OR SEEN FLAGGED") == ["* SEARCH 1 2"]
    assert await c.ok("SEARCH 2:*") == ["* SEARCH 2 3"]
    assert await c.ok("UID SEARCH UID 1,3") == ["* SEARCH 1 3"]
    assert await c.ok("SEARCH NEW") == ["* SEARCH 2 3"]  # recent and unseen
    assert await c.ok("SEARCH OLD") == ["* SEARCH"]
    assert await c.ok("SEARCH KEYWORD $Junk") == ["* SEARCH"]
    assert await c.ok("SEARCH UNKEYWORD $Junk") == ["* SEARCH 1 2 3"]


async def test_text_header_size_date_keys(wire):
    c = await mailbox(wire)
    assert await c.ok('SEARCH FROM "alice"') == ["* SEARCH 1"]
    assert await c.ok("SEARCH SUBJECT hello") == ["* SEARCH 1 3"]
    assert await c.ok("SEARCH BODY berlin") == ["* SEARCH 2"]
    assert await c.ok("SEARCH TEXT body") == ["* SEARCH 2 3"]  # 2 has "inner body"
    assert await c.ok('SEARCH HEADER Message-ID "<multi@"') == ["* SEARCH 2"]
    assert await c.ok('SEARCH HEADER In-Reply-To ""') == ["* SEARCH 3"]
    assert await c.ok("SEARCH LARGER 400") == ["* SEARCH 2"]
    assert await c.ok("SEARCH SMALLER 300") == ["* SEARCH 1 3"]
    assert await c.ok("SEARCH SINCE 5-Jan-2024") == ["* SEARCH 2 3"]
    assert await c.ok("SEARCH BEFORE 5-Jan-2024") == ["* SEARCH 1"]
    assert await c.ok("SEARCH ON 5-Jan-2024") == ["* SEARCH 2"]
    assert await c.ok("SEARCH SENTON 3-Jan-2024") == ["* SEARCH 2"]
    assert await c.ok("SEARCH SENTSINCE 9-Feb-2024") == ["* SEARCH 3"]
    assert await c.ok("SEARCH CHARSET UTF-8 SUBJECT Grüße".encode()) == ["* SEARCH 2"]


async def test_charset_and_errors(wire):
    c = await mailbox(wire)
    assert (
        await c.no("SEARCH CHARSET KOI8-R ALL")
        == "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset"
    )
    assert await c.bad("SEARCH FROB") == "BAD unknown search key FROB"
    assert await c.bad("SEARCH SINCE yesterday") == "BAD invalid date"


async def test_esearch_and_searchres(wire):
    c = await mailbox(wire)
    lines = await c.ok("SEARCH RETURN (MIN MAX COUNT) UNSEEN")
    assert lines == [f'* ESEARCH (TAG "{c.last_tag}") MIN 2 MAX 3 COUNT 2']
    lines = await c.ok("UID SEARCH RETURN () ALL")
    assert lines == [f'* ESEARCH (TAG "{c.last_tag}") UID ALL 1:3']
    lines = await c.ok("SEARCH RETURN (COUNT) DRAFT")
    assert lines == [f'* ESEARCH (TAG "{c.last_tag}") COUNT 0']
    assert await c.ok("SEARCH RETURN (SAVE) UNSEEN") == []
    assert await c.ok("FETCH $ UID") == ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"]
    assert await c.ok("SEARCH $ FLAGGED") == ["* SEARCH 2"]


async def test_rev2_uses_esearch(wire):
    c = await mailbox(wire)
    await c.ok("ENABLE IMAP4rev2")
    lines = await c.ok("SEARCH SEEN")
    assert lines == [f'* ESEARCH (TAG "{c.last_tag}") ALL 1']


async def test_sort(wire):
    c = await mailbox(wire)
    assert await c.ok("SORT (SUBJECT) UTF-8 ALL") == ["* SORT 2 1 3"]
    assert await c.ok("SORT (REVERSE ARRIVAL) UTF-8 ALL") == ["* SORT 3 2 1"]
    assert await c.ok("SORT (DATE) UTF-8 ALL") == ["* SORT 1 2 3"]
    assert await c.ok("SORT (SIZE) US-ASCII ALL") == ["* SORT 1 3 2"]
    assert await c.ok("SORT (FROM) UTF-8 NOT SEEN") == ["* SORT 2 3"]
    assert await c.ok("UID SORT (REVERSE SIZE) UTF-8 ALL") == ["* SORT 2 3 1"]


async def test_thread(wire):
    c = await wire()
    for msg in (
        reply(1, "topic", None, 1),
        reply(2, "Re: topic", "<m1@x>", 2),
        reply(3, "other", None, 3),
        reply(4, "Re: topic", "<m2@x>", 4),
        reply(5, "Re: topic", "<m1@x>", 5),
    ):
        await c.ok(b"APPEND INBOX " + literal(msg))
    await c.ok("SELECT INBOX")
    assert await c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL") == ["* THREAD (1 (2)(4)(5))(3)"]
    assert await c.ok("THREAD REFERENCES UTF-8 ALL") == ["* THREAD (1 (2 4)(5))(3)"]
    assert await c.ok("UID THREAD REFERENCES UTF-8 NOT 3") == ["* THREAD (1 (2 4)(5))"]
