"""Issue #22: CONDSTORE/ESEARCH, BINARY, atoms, LIST-EXTENDED and flags answered as the
RFCs say; every expected line is what a private Dovecot 2.3 answered (where RFCs leave
room, Dovecot's answer; status texts are ours)."""

from __future__ import annotations

import re

from tests.imap.messages import literal

PLAIN = b"From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n"
QP = (
    b"From: a@b\r\nSubject: qp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
    b"boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"line one with soft break = \t\r\nstill one line   \r\nsecond=3Dline=20\r\n"
    b"third  line that is long enough to go past forty bytes for partial\r\n"
    b"--XX\r\nContent-Type: text/plain\r\n\r\n\r\n--XX--\r\n"
)
QP_DECODED = (
    b"line one with soft break still one line\r\nsecond=line \r\n"
    b"third  line that is long enough to go past forty bytes for partial"
)
UNKNOWN_CTE = b"From: a@b\r\nSubject: u\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nzzz\r\n"


async def filled(wire, *messages: bytes):
    c = await wire()
    for data in messages:
        await c.ok(b"APPEND INBOX " + literal(data))
    await c.ok("SELECT INBOX")
    return c


def modseq_of(line: str) -> int:
    match = re.search(r"MODSEQ \((\d+)\)", line)
    assert match is not None, line
    return int(match.group(1))


async def test_fetch_modseq_enables_condstore(wire):
    c = await filled(wire, PLAIN, PLAIN, PLAIN)
    [announce, line] = await c.ok("FETCH 1 MODSEQ")
    assert re.fullmatch(r"\* OK \[HIGHESTMODSEQ \d+\] .*", announce)
    assert re.fullmatch(r"\* 1 FETCH \(MODSEQ \(\d+\)\)", line)
    # from now on every FETCH a STORE causes carries MODSEQ (RFC 7162 §3.1)
    [stored] = await c.ok("STORE 2 +FLAGS (\\Seen)")
    assert re.fullmatch(r"\* 2 FETCH \(FLAGS \(\\Recent \\Seen\) MODSEQ \(\d+\)\)", stored)
    [silent] = await c.ok("STORE 3 +FLAGS.SILENT (\\Flagged)")
    assert re.fullmatch(r"\* 3 FETCH \(MODSEQ \(\d+\)\)", silent)
    assert await c.ok("FETCH 1 MODSEQ") == [line]  # announced once only


async def test_esearch_min_max_report_their_own_modseq(wire):
    c = await filled(wire, PLAIN, PLAIN, PLAIN)
    await c.ok("STORE 2 +FLAGS (\\Seen)")
    lines = await c.ok("FETCH 1:3 MODSEQ")
    first, second, third = (modseq_of(x) for x in lines[-3:])
    assert second > max(first, third)
    tag = c.next_tag()
    untagged, status = await c.cmd("SEARCH RETURN (MIN) MODSEQ 1", tag)
    assert untagged == [f'* ESEARCH (TAG "{tag}") MIN 1 MODSEQ {first}'] and status.startswith("OK")
    tag = c.next_tag()
    untagged, _ = await c.cmd("SEARCH RETURN (MAX) MODSEQ 1", tag)
    assert untagged == [f'* ESEARCH (TAG "{tag}") MAX 3 MODSEQ {third}']
    tag = c.next_tag()
    untagged, _ = await c.cmd("SEARCH RETURN (MIN) MODSEQ 1 1:2", tag)
    assert untagged == [f'* ESEARCH (TAG "{tag}") MIN 1 MODSEQ {first}']
    tag = c.next_tag()
    untagged, _ = await c.cmd("SEARCH RETURN (MIN COUNT) MODSEQ 1", tag)
    assert untagged == [f'* ESEARCH (TAG "{tag}") MIN 1 COUNT 3 MODSEQ {second}']
    # RFC 7162 §3.1.5 entry name and type
    for kind in ("all", "priv"):
        found = await c.ok(f'SEARCH MODSEQ "/flags/\\\\seen" {kind} 1')
        assert found == [f"* SEARCH 1 2 3 (MODSEQ {second})"]
    await c.bad('SEARCH MODSEQ "/flags/\\\\seen" bogus 1')


async def test_quoted_printable_binary_as_dovecot_decodes_it(wire):
    c = await filled(wire, QP, UNKNOWN_CTE)
    assert await c.ok("FETCH 1 BINARY.SIZE[1]") == [f"* 1 FETCH (BINARY.SIZE[1] {len(QP_DECODED)})"]
    assert len(QP_DECODED) == 121  # what Dovecot says
    [whole] = await c.ok("FETCH 1 BINARY.PEEK[1]")
    assert whole == "* 1 FETCH (BINARY[1] ~{121}\r\n" + QP_DECODED.decode() + ")"
    # a partial range counts decoded octets
    [part] = await c.ok("FETCH 1 BINARY.PEEK[1]<40.100>")
    assert part == "* 1 FETCH (BINARY[1]<40> ~{81}\r\n" + QP_DECODED[40:140].decode() + ")"
    # an empty part is an empty literal, in BODY[] and BINARY[]
    assert await c.ok("FETCH 1 BODY.PEEK[2]") == ["* 1 FETCH (BODY[2] {0}\r\n)"]
    assert await c.ok("FETCH 1 BINARY.PEEK[2]") == ["* 1 FETCH (BINARY[2] {0}\r\n)"]
    for item in ("BINARY.PEEK[1]", "BINARY.SIZE[1]", "BINARY.PEEK[]"):
        untagged, status = await c.cmd(f"FETCH 2 {item}")
        assert status.startswith("NO [UNKNOWN-CTE]"), (item, status)
    assert await c.ok("FETCH 2 BODY.PEEK[1]") == ["* 2 FETCH (BODY[1] {5}\r\nzzz\r\n)"]


async def test_tilde_is_an_atom_char(wire):
    c = await wire()
    assert await c.ok('LIST "" ~foo') == []
    await c.no("SELECT ~foo")
    await c.ok("CREATE ~foo")
    assert await c.ok('LIST "" ~foo*') == ['* LIST (\\HasNoChildren) "/" ~foo']
    await c.ok("SELECT ~foo")
    await c.ok("STATUS ~foo (MESSAGES)")


async def test_atom_names_that_cannot_exist_are_no_not_bad(wire):
    c = await wire()
    assert "not valid modified UTF-7" in await c.no("SELECT !#$&'+,-.")
    await c.no("CREATE &Jjo")
    assert await c.ok('LIST "" &') == []
    assert await c.ok("NOOP") == []


async def test_list_extended_options_and_childinfo(wire):
    c = await wire()
    await c.bad('LIST (RECURSIVEMATCH) "" *')
    await c.bad('LIST "" * RETURN (FOO)')
    await c.bad('LIST (SUBSCRIBED RECURSIVEMATCH) "" * RETURN (CHILDREN FOO)')
    for name in ("L/Foo/Bar", "L/Baz"):
        await c.ok(f"CREATE {name}")
        await c.ok(f"SUBSCRIBE {name}")
    # "%": L/Foo is not subscribed but has a subscribed child the pattern misses
    assert await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "L/" %') == [
        '* LIST (\\HasNoChildren \\Subscribed) "/" L/Baz',
        '* LIST (\\HasChildren) "/" L/Foo ("CHILDINFO" ("SUBSCRIBED"))',
    ]
    # the child matches a pattern itself: it is listed, its parent is not (RFC 5258 §3.5)
    for patterns in ("*", "(L/% L/Foo/%)"):
        assert await c.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" {patterns}') == [
            '* LIST (\\HasNoChildren \\Subscribed) "/" L/Baz',
            '* LIST (\\HasNoChildren \\Subscribed) "/" L/Foo/Bar',
        ]


async def test_unknown_system_flags_are_bad_and_never_stored(wire):
    c = await filled(wire, PLAIN)
    assert "\\Bogus" in await c.bad("STORE 1 +FLAGS (\\Bogus)")
    assert "\\Bogus" in await c.bad(b"APPEND INBOX (\\Bogus) " + literal(PLAIN))
    assert await c.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Recent))"]
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 1)"]
    await c.bad("STORE 1 +FLAGS (\\Recent)")
    await c.bad(b"APPEND INBOX (\\Recent) " + literal(PLAIN))
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 1)"]
    # NIL in a flag list is an atom, so a keyword, as Dovecot stores it
    untagged = await c.ok("STORE 1 +FLAGS (NIL \\seen)")
    assert untagged[-1] == "* 1 FETCH (FLAGS (\\Recent \\Seen NIL))"
    assert await c.ok("SEARCH KEYWORD NIL") == ["* SEARCH 1"]


BINARY_PART = (
    b"From: a@b\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
    b"boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"ab\x00cd\r\n--XX--\r\n"
)


async def test_a_binary_part_appended_in_a_literal8_is_kept_base64(wire):
    """RFC 3516 §4.4, as Dovecot stores it: BODY[] gets base64 in a plain literal,
    BINARY[] the octets, NUL included, in a literal8."""
    c = await wire()
    await c.ok(b"APPEND INBOX ~{%d+}\r\n" % len(BINARY_PART) + BINARY_PART)
    await c.ok("SELECT INBOX")
    [line] = await c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2])")
    assert line == (
        "* 1 FETCH (RFC822.SIZE 232 BODY[2] {8}\r\nYWIAY2Q= BINARY[2] ~{5}\r\nab\0cd "
        "BINARY.SIZE[2] 5)"
    )
    [whole] = await c.ok("FETCH 1 BODY.PEEK[]")
    assert "\0" not in whole and "Content-Transfer-Encoding: base64\r\n\r\nYWIAY2Q=\r\n" in whole
    [structure] = await c.ok("FETCH 1 BODYSTRUCTURE")
    assert '("application" "octet-stream" NIL NIL NIL "BASE64" 8 ' in structure


def quoted_printable(body: bytes) -> bytes:
    return b"From: a@b\r\nSubject: q\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + body


async def test_quoted_printable_edges_as_dovecot(wire):
    c = await filled(
        wire,
        quoted_printable(b"lf only = \nnext\nlast"),
        quoted_printable(b"a=3db=3D\r\nx=\r\n"),
        quoted_printable(b"=XY bad\r\n"),
        quoted_printable(b"cr\ronly\r\n"),
        quoted_printable(b"a=\tb\r\n"),
    )
    # a hard line break is CRLF, whatever the message used; lower-case hex is read
    [first] = await c.ok("FETCH 1 BINARY.PEEK[1]")
    assert first == "* 1 FETCH (BINARY[1] ~{18}\r\nlf only next\r\nlast)"
    assert await c.ok("FETCH 2 BINARY.PEEK[1]") == ["* 2 FETCH (BINARY[1] ~{7}\r\na=b=\r\nx)"]
    # what quoted-printable does not allow cannot be decoded (Dovecot: NO [PARSE])
    for n in (3, 4, 5):
        assert await c.no(f"FETCH {n} BINARY.SIZE[1]") == "NO [PARSE] Invalid data in MIME part"
        assert await c.no(f"FETCH {n} BINARY.PEEK[1]") == "NO [PARSE] Invalid data in MIME part"
    # BODY[] serves the stored octets, decodable or not
    assert await c.ok("FETCH 3 BODY.PEEK[1]") == ["* 3 FETCH (BODY[1] {9}\r\n=XY bad\r\n)"]
