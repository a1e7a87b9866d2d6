"""Issue #22: addresses, SORT and THREAD answered as the RFCs say, as Dovecot 2.3 does.

ENVELOPE keeps obs-routes and groups (RFC 5322 §3.4/§4.4, RFC 3501 §7.4.2); SEARCH
FROM/TO/CC match the parsed addresses; SORT compares with i;ascii-casemap and the
RFC 5256 §2.1 base subject; THREAD REFERENCES merges by subject (RFC 5256 §2.2 step 5).
Every expected line here is what a private Dovecot 2.3 answered to the same commands.
"""

from __future__ import annotations

from tests.imap.messages import literal

ROUTED = (
    b"From: <@route:user@domain>\r\nTo: undisclosed:;\r\nCc: user2: blah@domain1.org;\r\n"
    b"Subject: foo\r\nMessage-ID: <m1@x>\r\n\r\nbody\r\n"
)
COMMENTED = (
    b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: Re: foo\r\n"
    b"Message-ID: <m2@x>\r\n\r\nbody\r\n"
)


def message(sender: str, subject: str, extra: str = "") -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\n{extra}\r\nbody\r\n".encode()


async def filled(wire, *messages: bytes):
    c = await wire()
    for data in messages:
        await c.ok(b"APPEND INBOX " + literal(data))
    await c.ok("SELECT INBOX")
    return c


async def test_envelope_keeps_source_routes_and_groups(wire):
    c = await filled(wire, ROUTED, COMMENTED)
    first, second = await c.ok("FETCH 1:2 ENVELOPE")
    routed = '((NIL "@route" "user" "domain"))'
    assert first == (
        f'* 1 FETCH (ENVELOPE (NIL "foo" {routed} {routed} {routed} '
        '((NIL NIL "undisclosed" NIL)(NIL NIL NIL NIL)) '
        '((NIL NIL "user2" NIL)(NIL NIL "blah" "domain1.org")(NIL NIL NIL NIL)) '
        'NIL NIL "<m1@x>"))'
    )
    plain = '((NIL NIL "user-from" "domain.org"))'
    assert second == (
        f'* 2 FETCH (ENVELOPE (NIL "Re: foo" {plain} {plain} {plain} NIL NIL NIL NIL "<m2@x>"))'
    )


async def test_search_matches_parsed_addresses_not_comments(wire):
    c = await filled(wire, ROUTED, COMMENTED)
    assert await c.ok("SEARCH FROM user-from@domain.org") == ["* SEARCH 2"]
    assert await c.ok("SEARCH FROM comment") == ["* SEARCH"]
    assert await c.ok("SEARCH FROM route") == ["* SEARCH 1"]
    assert await c.ok("SEARCH FROM user") == ["* SEARCH 1 2"]
    assert await c.ok("SEARCH CC user2") == ["* SEARCH 1"]
    assert await c.ok("SEARCH CC blah@domain1") == ["* SEARCH 1"]
    assert await c.ok("SEARCH TO undisclosed") == ["* SEARCH 1"]
    assert await c.ok('SEARCH HEADER FROM ""') == ["* SEARCH 1 2"]


async def test_sort_folds_to_upper_case(wire):
    """i;ascii-casemap maps a-z to A-Z: "[" and "_" sort after the letters."""
    c = await filled(
        wire,
        message("_under@example.org", "_d"),
        message("apple@example.org", "[Fwd: c]"),
        message("Zed@example.org", "Re: [list] Fwd: b (fwd)"),
        message("^caret@example.org", "a"),
    )
    assert await c.ok("SORT (FROM) UTF-8 ALL") == ["* SORT 2 3 4 1"]
    assert await c.ok("SORT (SUBJECT) UTF-8 ALL") == ["* SORT 4 3 2 1"]
    assert await c.ok("SORT (REVERSE SUBJECT) UTF-8 ALL") == ["* SORT 1 2 3 4"]


async def test_sort_by_a_group_address_uses_the_group_name(wire):
    c = await filled(
        wire,
        message("a@example.org", "x", "Cc: zz: aa@example.org;\r\n"),
        message("b@example.org", "y", "Cc: mm@example.org\r\n"),
    )
    assert await c.ok("SORT (CC) UTF-8 ALL") == ["* SORT 2 1"]


async def test_base_subject_removes_every_leader_and_trailer(wire):
    c = await filled(
        wire,
        message("a@example.org", "Re: [Fwd: Re: baz (fwd)]"),
        message("a@example.org", "  fw[x]:  BAZ   (FWD) (fwd) "),
        message("a@example.org", "[blob]"),
        message("a@example.org", "baz"),
    )
    # "[blob]" alone stays its own base subject; the others are all "baz", and
    # every later message of a subject is a child of its first (RFC 5256 §3)
    assert await c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL") == ["* THREAD (1 (2)(4))(3)"]
    assert await c.ok("SORT (SUBJECT) UTF-8 ALL") == ["* SORT 1 2 4 3"]


async def test_thread_references_merges_a_reply_under_its_subject(wire):
    c = await filled(wire, ROUTED, COMMENTED)
    assert await c.ok("THREAD REFERENCES US-ASCII ALL") == ["* THREAD (1 2)"]


async def test_thread_references_puts_same_subject_roots_under_a_dummy(wire):
    dated = "Date: Mon, {} Jan 2024 10:00:00 +0000\r\nMessage-ID: <{}@x>\r\n"
    c = await filled(
        wire,
        message("a@example.org", "bar", dated.format(1, "b1")),
        message("a@example.org", "bar", dated.format(2, "b2")),
        message("a@example.org", "Re: qux", dated.format(3, "q1")),
        message("a@example.org", "Re: qux", dated.format(4, "q2")),
        message("a@example.org", "qux", dated.format(5, "q3")),
    )
    # two originals: siblings under a dummy; replies go under the original
    # (step 5.D), and a later original is where earlier replies are merged
    assert await c.ok("THREAD REFERENCES UTF-8 ALL") == ["* THREAD ((1)(2))(5 (3)(4))"]


async def test_thread_references_takes_a_dummys_subject_from_its_oldest_child(wire):
    """Step 5.B "the first child": the oldest, once siblings are sorted (Dovecot)."""

    def dated(subject: str, day: int, msgid: str, extra: str = "") -> bytes:
        header = f"Date: Mon, {day} Jan 2024 10:00:00 +0000\r\nMessage-ID: <{msgid}@x>\r\n"
        return message("a@example.org", subject, header + extra)

    c = await filled(
        wire,
        dated("Fwd: foo", 3, "a1", "In-Reply-To: <gone@x>\r\n"),
        dated("baz", 2, "a2", "References: <gone@x>\r\n"),
        dated("baz", 1, "a3"),
    )
    # the dummy <gone@x> holds 1 and 2; 2 is older, so its subject "baz" merges 3 in
    assert await c.ok("THREAD REFERENCES UTF-8 ALL") == ["* THREAD ((3)(2)(1))"]


async def test_search_and_sort_see_addresses_as_dovecot_writes_them(wire):
    c = await filled(
        wire,
        message("a@b (Comment Name)", "x"),
        message('"a b"@c.d', "y"),
        message('"Giant; \\"Big\\" Box" <sysservices@example.net>', "z"),
    )
    # each address is written "name <user@domain>", the name quoted unless an atom
    # (as it stands: encoded words are atoms), a local part quoted if no dot-atom
    assert await c.ok('SEARCH FROM "\\"Comment Name\\" <a@b>"') == ["* SEARCH 1"]
    assert await c.ok('SEARCH FROM "Comment Name <a@b>"') == ["* SEARCH"]
    assert await c.ok('SEARCH FROM "<\\"a b\\"@c.d>"') == ["* SEARCH 2"]
    assert await c.ok('SEARCH FROM "a b@c.d"') == ["* SEARCH"]
    assert await c.ok('SEARCH FROM "\\"Giant; \\\\\\"Big"') == ["* SEARCH 3"]
    # a quoted local part is its content, in ENVELOPE and for SORT
    [line] = await c.ok("FETCH 2 ENVELOPE")
    assert '((NIL NIL "a b" "c.d"))' in line
    assert await c.ok("SORT (FROM) UTF-8 ALL") == ["* SORT 1 2 3"]


async def test_names_are_quoted_only_when_no_atom(wire):
    c = await filled(
        wire,
        message("Mary <m@x>", "a"),
        message("a.b.c@d.e", "b"),
        message("=?utf-8?q?J=C3=BCrgen_M?= <j@y>", "c"),
    )
    assert await c.ok('SEARCH FROM "Mary <m@x>"') == ["* SEARCH 1"]
    assert await c.ok('SEARCH FROM "<a.b.c@d.e>"') == ["* SEARCH 2"]
    assert await c.ok('SEARCH CHARSET UTF-8 FROM "Jürgen M <j@y>"') == ["* SEARCH 3"]
