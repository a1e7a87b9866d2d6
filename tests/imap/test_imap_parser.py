"""The sans-IO parser and grammar: typed commands out, or BadSyntax with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.imap import commands as c
from postfach.imap.grammar import (
    SeqSet,
    astring,
    compact_uids,
    decode_mutf7,
    encode_mutf7,
    parse_datetime,
    parse_seqset,
    quoted,
)
from postfach.imap.lexer import BadSyntax
from postfach.imap.parser import command_name, literal_suffix, parse_command


def parse(text: str | bytes, utf8: bool = False) -> c.Command:
    raw = text.encode() if isinstance(text, str) else text
    return parse_command(raw + b"\r\n", utf8)


def bad(text: str | bytes) -> BadSyntax:
    with pytest.raises(BadSyntax) as info:
        parse(text)
    return info.value


def test_login_with_quoted_escapes():
    cmd = parse(r'a1 LOGIN joe "se\"cr\\et"')
    assert cmd == c.Login("a1", "joe", 'se"cr\\et')
    assert "cr" not in repr(cmd)  # passwords stay out of logs


def test_literals_sync_and_nonsync():
    cmd = parse(b"a LOGIN {3}\r\njoe {6+}\r\nsecret")
    assert cmd == c.Login("a", "joe", "secret")


def test_literal_suffix():
    assert literal_suffix(b"a APPEND x {12}\r\n") == (12, True)
    assert literal_suffix(b"a APPEND x {12+}\r\n") == (12, False)
    assert literal_suffix(b"a APPEND x ~{7}\r\n") == (7, True)
    assert literal_suffix(b"a NOOP\r\n") is None
    assert literal_suffix(b"a LOGIN {x}\r\n") is None


def test_command_name():
    assert command_name(b"a1 uid fetch 1 FLAGS\r\n") == ("a1", "FETCH")
    assert command_name(b"\r\n")[0] in (None, "")


def test_tag_rules():
    assert bad("").tag is None
    assert bad("a+b NOOP").tag is None or True
    assert bad("a1").reason == "missing command"
    assert bad("a1 FROB").reason == "unknown command FROB"
    assert bad("a1 UID NOOP").reason == "UID NOOP is not a command"
    assert bad("a1 NOOP extra").reason == "unexpected characters at end of command"


def test_select_parameters():
    assert parse("a SELECT inbox") == c.Select("a", "INBOX")
    assert parse("a EXAMINE Sent (CONDSTORE)") == c.Select("a", "Sent", True, True)
    cmd = parse("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211 (1:3 2:4)))")
    assert isinstance(cmd, c.Select) and cmd.qresync is not None
    assert cmd.qresync.uidvalidity == 67890007
    assert cmd.qresync.known_uids == SeqSet(((41, 41), (43, 211)))
    assert cmd.qresync.seq_match == (SeqSet(((1, 3),)), SeqSet(((2, 4),)))
    assert bad("a SELECT INBOX (FOO)").reason == "unknown select parameter FOO"


def test_mailbox_names_mutf7_and_utf8():
    assert parse("a CREATE &AMQ-bung").mailbox == "Äbung"  # type: ignore[union-attr]
    assert parse("a CREATE &-x").mailbox == "&x"  # type: ignore[union-attr]
    assert parse('a CREATE "Äbung"'.encode()).mailbox == "Äbung"  # type: ignore[union-attr]
    assert parse("a CREATE &AMQ-", utf8=True).mailbox == "&AMQ-"  # type: ignore[union-attr]
    refused = bad("a CREATE &AMQ")  # well-formed, names nothing that can exist: NO
    assert refused.reason == "mailbox name is not valid modified UTF-7" and refused.refused


def test_list_extended():
    cmd = parse(
        'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("%" "Sent/*") RETURN (CHILDREN STATUS (MESSAGES))'
    )
    assert cmd == c.ListMailboxes(
        "a",
        "",
        ("%", "Sent/*"),
        frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
        frozenset({"CHILDREN", "STATUS"}),
        ("MESSAGES",),
        False,
        True,
    )
    assert parse('a LIST "" *') == c.ListMailboxes("a", "", ("*",))
    assert parse('a LSUB "" %') == c.ListMailboxes("a", "", ("%",), lsub=True)
    assert (
        bad('a LIST (RECURSIVEMATCH) "" *').reason
        == "RECURSIVEMATCH needs another selection option"
    )


def test_append_multi():
    cmd = parse(
        b'a APPEND Sent (\\seen) "17-Jul-1996 02:44:25 -0700" {5+}\r\nhello (\\Draft) {3+}\r\nabc'
    )
    assert isinstance(cmd, c.Append)
    assert [m.data for m in cmd.messages] == [b"hello", b"abc"]
    assert cmd.messages[0].flags == {"\\Seen"}
    assert cmd.messages[0].date == 837596665.0
    assert bad(b"a APPEND Sent").reason == "missing message"
    assert (
        bad(b'a APPEND Sent "32-Jul-1996 02:44:25 -0700" {1+}\r\nx').reason == "invalid date-time"
    )


def test_store_forms():
    assert parse("a STORE 1:3 +FLAGS.SILENT (\\Seen $Junk)") == c.Store(
        "a", False, SeqSet(((1, 3),)), "add", True, frozenset({"\\Seen", "$Junk"})
    )
    assert parse("a UID STORE 5 (UNCHANGEDSINCE 9) -FLAGS \\Deleted \\Flagged") == c.Store(
        "a", True, SeqSet(((5, 5),)), "remove", False, frozenset({"\\Deleted", "\\Flagged"}), 9
    )
    assert bad("a STORE 1 FLAGS (\\Recent)").reason == "\\Recent and \\* cannot be stored"
    assert bad("a STORE 0 FLAGS ()").reason == "invalid sequence set"


def test_fetch_items():
    cmd = parse(
        "a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From to)]<0.100> BINARY.SIZE[1])"
    )
    assert isinstance(cmd, c.Fetch)
    assert cmd.items == (
        c.FetchAtt("UID"),
        c.FetchAtt("FLAGS"),
        c.FetchAtt("BODY", c.Section((1, 2), "HEADER.FIELDS", ("FROM", "TO")), (0, 100), peek=True),
        c.FetchAtt("BINARY.SIZE", c.Section((1,))),
    )
    assert [i.name for i in parse("a FETCH 1 ALL").items] == [  # type: ignore[union-attr]
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
    ]
    cmd = parse("a UID FETCH 1:* FLAGS (CHANGEDSINCE 12 VANISHED)")
    assert isinstance(cmd, c.Fetch) and cmd.changedsince == 12 and cmd.vanished
    assert bad("a FETCH 1 (BODY[TEXT)").reason == "expected ']'"
    assert bad("a FETCH 1 BODY[MIME]").reason == "invalid section"
    assert bad("a FETCH 1 BINARY[TEXT]").reason == "BINARY takes part numbers only"
    assert bad("a FETCH 1 FLAGS (VANISHED)").reason == "unknown fetch modifier VANISHED"
    assert bad("a FETCH 1 (FOO)").reason == "unknown fetch attribute FOO"


def test_search_program():
    cmd = parse(
        'a UID SEARCH CHARSET UTF-8 OR FROM "joe" (SINCE 1-Feb-2020 NOT SEEN) 1:3 UID 7:* $'
    )
    assert isinstance(cmd, c.Search) and cmd.uid and cmd.charset == "UTF-8"
    assert cmd.key == c.KeyAnd(
        (
            c.KeyOr(
                c.KeyText("from", "joe"),
                c.KeyAnd((c.KeyDate("since", (2020, 2, 1)), c.KeyNot(c.KeyFlag("\\Seen")))),
            ),
            c.KeySeq(SeqSet(((1, 3),))),
            c.KeySeq(SeqSet(((7, None),)), uid=True),
            c.KeySeq(SeqSet(saved=True)),
        )
    )
    assert parse("a SEARCH RETURN (MIN COUNT) MODSEQ 5").return_opts == ("MIN", "COUNT")  # type: ignore[union-attr]
    assert parse('a SEARCH HEADER X-Foo "" LARGER 10 SENTON "3-Mar-2021"').key == c.KeyAnd(
        (  # type: ignore[union-attr]
            c.KeyHeader("X-Foo", ""),
            c.KeySize(True, 10),
            c.KeyDate("on", (2021, 3, 3), True),
        )
    )
    assert bad("a SEARCH FROB").reason == "unknown search key FROB"
    assert (
        bad("a SEARCH " + "(" * 80 + "ALL" + ")" * 80).reason == "search criteria nested too deeply"
    )


def test_sort_thread_id_enable_quota_auth():
    assert parse("a SORT (REVERSE DATE SUBJECT) UTF-8 ALL") == c.Sort(
        "a", False, (("DATE", True), ("SUBJECT", False)), "UTF-8", c.KeyAll()
    )
    assert parse("a UID THREAD REFERENCES US-ASCII SEEN") == c.Thread(
        "a", True, "REFERENCES", "US-ASCII", c.KeyFlag("\\Seen")
    )
    assert parse('a ID ("name" "x" "os" NIL)') == c.Id("a", (("name", "x"), ("os", None)))
    assert parse("a ID NIL") == c.Id("a", None)
    assert parse("a ENABLE condstore UTF8=ACCEPT") == c.Enable("a", ("CONDSTORE", "UTF8=ACCEPT"))
    assert parse('a SETQUOTA "" (STORAGE 512)') == c.SetQuota("a", "", (("STORAGE", 512),))
    assert parse("a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=") == c.Authenticate(
        "a", "PLAIN", b"AGpvZQBzZWNyZXQ="
    )
    assert parse("a AUTHENTICATE plain =") == c.Authenticate("a", "PLAIN", b"")
    assert parse("a UID EXPUNGE 3:4") == c.Expunge("a", SeqSet(((3, 4),)))
    assert parse("a MOVE 1:2 Trash") == c.Copy("a", False, SeqSet(((1, 2),)), "Trash", move=True)


def test_seqset_resolution():
    s = parse_seqset("2:4,9:*")
    assert s.seq_indexes(10) == [1, 2, 3, 8, 9]
    assert s.uid_indexes([1, 3, 4, 20]) == [1, 2, 3]
    assert parse_seqset("5:*").uid_indexes([1, 2, 3]) == [2]  # n:* always names the largest
    assert parse_seqset("*").seq_indexes(0) == []
    assert not parse_seqset("3").seq_in_range(2)
    assert parse_seqset("1:*").seq_in_range(0)
    with pytest.raises(ValueError):
        parse_seqset("1,,2")
    assert compact_uids([5, 1, 2, 3, 7, 8]) == "1:3,5,7:8"


def test_mutf7_round_trip_examples():
    assert encode_mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert decode_mutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert encode_mutf7("a&b") == "a&-b"


@given(st.text(max_size=30))
def test_mutf7_round_trip(name):
    assert decode_mutf7(encode_mutf7(name)) == name


def test_quoting():
    assert astring("INBOX") == b"INBOX"
    assert astring("a b") == b'"a b"'
    assert astring("nil") == b'"nil"'
    assert quoted('x"y\\') == b'"x\\"y\\\\"'
    assert quoted("a\r\nb") == b"{4}\r\na\r\nb"
    assert quoted("ä", utf8=False) == b"{2}\r\n\xc3\xa4"


def test_datetime():
    assert parse_datetime(" 1-Jan-2000 00:00:00 +0000") == 946684800.0
    with pytest.raises(ValueError):
        parse_datetime("1-Foo-2000 00:00:00 +0000")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_else(data):
    for utf8 in (False, True):
        try:
            parse_command(data, utf8)
        except BadSyntax:
            pass


COMMAND_WORDS = [
    "LOGIN",
    "SELECT",
    "FETCH",
    "UID",
    "SEARCH",
    "STORE",
    "APPEND",
    "LIST",
    "STATUS",
    "COPY",
    "SORT",
    "THREAD",
    "ID",
    "ENABLE",
    "AUTHENTICATE",
    "CREATE",
    "RENAME",
    "BODY[",
    "(",
    ")",
    "{3}\r\n",
    "{2+}\r\n",
    '"',
    "\\",
    "*",
    "1:*",
    "$",
    "NOT",
    "OR",
    "FLAGS",
    "+FLAGS",
    "RETURN",
    "(CHANGEDSINCE",
    "<0.5>",
    "HEADER.FIELDS",
    "INBOX",
    " ",
    "~{1}\r\n",
    "~",
    "~foo",
    "&",
    "CHARSET",
    "]",
    "PARTIAL",
    "-1:-100",
    "1:10",
    "(PARTIAL",
    "(MIN",
    "COUNT)",
    "SAVEDON",
    "SAVEDATESUPPORTED",
    "EMAILID",
    "THREADID",
    "MAILBOXID",
    "(EMAILID",
    "SAVEDATE",
    "(DISPLAYFROM)",
    "CATENATE",
    "(TEXT",
    "URL",
    '"/INBOX/;UID=1"',
    "CANCELUPDATE",
    "(UPDATE)",
    "GENURLAUTH",
    "URLFETCH",
    "RESETKEY",
    "INTERNAL",
    '"imap://a@h/INBOX/;uid=1;urlauth=anonymous"',
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(COMMAND_WORDS) | st.text(max_size=4), max_size=12))
def test_command_like_input_never_raises_anything_else(words):
    data = ("a1 " + " ".join(words) + "\r\n").encode()
    try:
        parse_command(data)
    except BadSyntax as exc:
        assert exc.tag == "a1"
        assert exc.reason


# RFC 3501 §9 ATOM-CHAR: any CHAR but atom-specials; "~" is one, "&" is left out
# here only because it starts a modified UTF-7 sequence in mailbox names.
ATOM_CHARS = "".join(ch for ch in map(chr, range(0x21, 0x7F)) if ch not in '(){ %*"\\]&')


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ATOM_CHARS, min_size=0, max_size=12))
def test_tilde_starts_an_atom_unless_a_brace_follows(rest):
    name = "~" + rest
    select = parse(f"a SELECT {name}")
    assert isinstance(select, c.Select) and select.mailbox == name
    listed = parse(f'a LIST "" {name}')
    assert isinstance(listed, c.ListMailboxes) and listed.patterns == (name,)
    status = parse(f"a STATUS {name} (MESSAGES)")
    assert isinstance(status, c.Status) and status.mailbox == name
    # only "~{" opens a literal8
    literal = parse(b"a SELECT ~{%d}\r\n" % len(name) + name.encode())
    assert isinstance(literal, c.Select) and literal.mailbox == name


def test_atom_names_that_are_not_modified_utf7_are_refused_not_bad():
    refused = bad("a SELECT !#$&'+,-.")
    assert refused.refused and refused.tag == "a"
    listed = parse('a LIST "" &')  # a pattern: matches nothing, not an error
    assert isinstance(listed, c.ListMailboxes)
    assert not bad("a SELECT (x").refused


def test_unknown_system_flags_and_list_options_are_bad():
    assert "\\Bogus" in bad("a STORE 1 +FLAGS (\\Bogus)").reason
    assert "\\Bogus" in bad(b"a APPEND INBOX (\\Bogus) {1}\r\nx").reason
    store = parse("a STORE 1 +FLAGS (\\Seen NIL $Label)")
    assert isinstance(store, c.Store) and store.flags == {"\\Seen", "NIL", "$Label"}
    assert "FOO" in bad('a LIST "" * RETURN (FOO)').reason
    assert "RECURSIVEMATCH" in bad('a LIST (RECURSIVEMATCH REMOTE) "" *').reason
    assert isinstance(parse('a LIST (SUBSCRIBED RECURSIVEMATCH) "" *'), c.ListMailboxes)
