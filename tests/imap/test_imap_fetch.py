"""FETCH: every item, sections, partials, BINARY, \\Seen side effect, sequence set errors."""

from __future__ import annotations

from tests.imap.messages import MULTIPART, SIMPLE, literal


async def setup(wire):
    c = await wire()
    await c.ok(b'APPEND INBOX (\\Seen) "02-Jan-2024 10:00:00 +0000" ' + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(MULTIPART))
    await c.ok("SELECT INBOX")
    return c


async def test_flags_uid_size_date(wire):
    c = await setup(wire)
    assert await c.ok("FETCH 1:* (UID FLAGS RFC822.SIZE)") == [
        f"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen) RFC822.SIZE {len(SIMPLE)})",
        f"* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE {len(MULTIPART)})",
    ]
    assert await c.ok("UID FETCH 1 INTERNALDATE") == [
        '* 1 FETCH (UID 1 INTERNALDATE "02-Jan-2024 10:00:00 +0000")'
    ]
    assert await c.ok("FETCH 2 UID") == ["* 2 FETCH (UID 2)"]


async def test_envelope(wire):
    c = await setup(wire)
    lines = await c.ok("FETCH 1:2 ENVELOPE")
    assert lines[0] == (
        '* 1 FETCH (ENVELOPE ("Tue, 02 Jan 2024 10:00:00 +0000" "Hello there" '
        '(("Alice Example" NIL "alice" "example.net")) (("Alice Example" NIL "alice" "example.net")) '  # noqa: E501
        '(("Alice Example" NIL "alice" "example.net")) ((NIL NIL "a" "example.org")) NIL NIL NIL '
        '"<simple@example.net>"))'
    )
    assert lines[1] == (
        '* 2 FETCH (ENVELOPE ("Wed, 03 Jan 2024 12:30:00 +0100" "=?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file" '  # noqa: E501
        '(("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) '
        '(("Bob" NIL "bob" "example.com")) ((NIL NIL "a" "example.org")("Carol C" NIL "carol" "example.org")) '  # noqa: E501
        '((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL "<multi@example.com>"))'
    )


async def test_bodystructure(wire):
    c = await setup(wire)
    assert await c.ok("FETCH 1 BODYSTRUCTURE") == [
        '* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 22 1 '
        "NIL NIL NIL NIL))"
    ]
    [line] = await c.ok("FETCH 2 BODY")
    assert line == (
        '* 2 FETCH (BODY (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 26 1)'
        '("application" "octet-stream" ("name" "data.bin") NIL NIL "BASE64" 8)'
        '("message" "rfc822" NIL NIL NIL "7BIT" 53 (NIL "inner" ((NIL NIL "inner" "example.net")) '
        '((NIL NIL "inner" "example.net")) ((NIL NIL "inner" "example.net")) NIL NIL NIL NIL NIL) '
        '("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1) 4) "mixed"))'
    )
    [line] = await c.ok("FETCH 2 BODYSTRUCTURE")
    assert '("attachment" ("filename" "data.bin"))' in line
    assert line.endswith(' "mixed" ("boundary" "XYZ") NIL NIL NIL))')


async def test_sections(wire):
    c = await setup(wire)
    header_len = SIMPLE.index(b"\r\n\r\n") + 4
    assert await c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT from)]") == [
        "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {65}\r\n"
        "From: Alice Example <alice@example.net>\r\nSubject: Hello there\r\n\r\n)"
    ]
    assert await c.ok("FETCH 1 BODY.PEEK[TEXT]") == [
        "* 1 FETCH (BODY[TEXT] {22}\r\nJust a line of text.\r\n)"
    ]
    assert await c.ok("FETCH 1 BODY.PEEK[HEADER]") == [
        f"* 1 FETCH (BODY[HEADER] {{{header_len}}}\r\n{SIMPLE[:header_len].decode()})"
    ]
    assert await c.ok("FETCH 1 BODY.PEEK[]<0.4>") == ["* 1 FETCH (BODY[]<0> {4}\r\nFrom)"]
    assert await c.ok("FETCH 1 BODY.PEEK[1]") == [
        "* 1 FETCH (BODY[1] {22}\r\nJust a line of text.\r\n)"
    ]
    assert await c.ok("FETCH 2 BODY.PEEK[1]") == [
        "* 2 FETCH (BODY[1] {26}\r\nGr=C3=BC=C3=9Fe aus Berlin)"
    ]
    assert await c.ok("FETCH 2 BODY.PEEK[2.MIME]") == [
        '* 2 FETCH (BODY[2.MIME] {148}\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'  # noqa: E501
        'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n)'  # noqa: E501
    ]
    assert await c.ok("FETCH 2 BODY.PEEK[3.HEADER]") == [
        "* 2 FETCH (BODY[3.HEADER] {43}\r\nFrom: inner@example.net\r\nSubject: inner\r\n\r\n)"
    ]
    assert await c.ok("FETCH 2 BODY.PEEK[3.TEXT]") == [
        "* 2 FETCH (BODY[3.TEXT] {10}\r\ninner body)"
    ]
    assert await c.ok("FETCH 2 BODY.PEEK[3.1]") == ["* 2 FETCH (BODY[3.1] {10}\r\ninner body)"]
    assert await c.ok("FETCH 2 BODY.PEEK[9]") == ["* 2 FETCH (BODY[9] {0}\r\n)"]


async def test_binary(wire):
    c = await setup(wire)
    assert await c.ok("FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[2])") == [
        "* 2 FETCH (BINARY[1] ~{18}\r\nGrüße aus Berlin BINARY.SIZE[2] 5)".replace(
            "Grüße", "Grüße".encode().decode("latin-1")
        )
    ]
    [line] = await c.ok("FETCH 2 BINARY.PEEK[2]")
    assert line == "* 2 FETCH (BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04)"


async def test_body_fetch_sets_seen(wire):
    c = await setup(wire)
    assert await c.ok("FETCH 2 BODY.PEEK[]<0.3>") == ["* 2 FETCH (BODY[]<0> {3}\r\nFro)"]
    assert await c.ok("FETCH 2 FLAGS") == ["* 2 FETCH (FLAGS (\\Recent))"]
    assert await c.ok("FETCH 2 BODY[]<0.3>") == [
        "* 2 FETCH (BODY[]<0> {3}\r\nFro FLAGS (\\Recent \\Seen))"
    ]
    assert await c.ok("FETCH 2 FLAGS") == ["* 2 FETCH (FLAGS (\\Recent \\Seen))"]


async def test_rfc822_items(wire):
    c = await setup(wire)
    lines = await c.ok("FETCH 1 (RFC822.HEADER RFC822.TEXT)")
    assert lines[0].startswith("* 1 FETCH (RFC822.HEADER {")
    assert "RFC822.TEXT {22}\r\nJust a line of text.\r\n" in lines[0]
    [line] = await c.ok("FETCH 1 RFC822")
    assert line == f"* 1 FETCH (RFC822 {{{len(SIMPLE)}}}\r\n{SIMPLE.decode()})"


async def test_macros_and_modseq(wire):
    c = await setup(wire)
    [line, _] = await c.ok("FETCH 1:2 FAST")
    assert (
        line
        == f'* 1 FETCH (FLAGS (\\Recent \\Seen) INTERNALDATE "02-Jan-2024 10:00:00 +0000" RFC822.SIZE {len(SIMPLE)})'  # noqa: E501
    )
    # FETCH MODSEQ enables CONDSTORE, which announces HIGHESTMODSEQ (RFC 7162 §3.1)
    [announce, line] = await c.ok("FETCH 1 (MODSEQ)")
    assert announce.startswith("* OK [HIGHESTMODSEQ ")
    assert line.startswith("* 1 FETCH (MODSEQ (") and line.endswith("))")


async def test_uid_fetch_adds_uid_and_ignores_missing(wire):
    c = await setup(wire)
    assert await c.ok("UID FETCH 2:99 FLAGS") == ["* 2 FETCH (UID 2 FLAGS (\\Recent))"]
    assert await c.ok("UID FETCH 50:60 FLAGS") == []
    assert await c.ok("UID FETCH 50:* FLAGS") == [
        "* 2 FETCH (UID 2 FLAGS (\\Recent))"
    ]  # n:* names the last
    assert await c.ok("UID FETCH 1 FLAGS") == ["* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))"]


async def test_bad_sequence_numbers(wire):
    c = await setup(wire)
    assert await c.bad("FETCH 3 FLAGS") == "BAD Invalid message sequence number"
    assert await c.bad("FETCH 0 FLAGS") == "BAD invalid sequence set"
    assert await c.bad("FETCH 1 BODY[1.MIME") == "BAD expected ']'"
    await c.ok("FETCH 1:* FLAGS")


async def test_empty_mailbox_star(wire):
    c = await wire(select="Sent")
    assert await c.ok("FETCH 1:* FLAGS") == []
    assert await c.ok("UID FETCH 1:* FLAGS") == []


async def test_fetch_needs_selected(wire):
    c = await wire()
    assert await c.no("FETCH 1 FLAGS") == "NO Command not allowed in this state"
