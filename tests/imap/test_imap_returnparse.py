"""Hypothesis over the SEARCH/SORT result options (RFC 4731, 5267, 9394 PARTIAL) and
the new search keys (RFC 8474 EMAILID/THREADID, RFC 8514 SAVED*): any option
list parses into a consistent command or fails as BAD, never otherwise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.imap import commands as c
from postfach.imap.esearchresult import ordered_set, partial_slice
from postfach.imap.parser import BadSyntax, parse_command
from postfach.imapurl import ImapUrl, parse_url

NUMBERS = st.integers(min_value=-(2**33), max_value=2**33)
OPTION = st.sampled_from(["MIN", "MAX", "ALL", "COUNT", "SAVE", "PARTIAL", "FOO", ""]) | (
    st.tuples(NUMBERS, NUMBERS).map(lambda ab: f"PARTIAL {ab[0]}:{ab[1]}")
)
KEYS = st.sampled_from(
    [
        "ALL",
        "SAVEDON 1-Jan-2024",
        "SAVEDBEFORE 31-Feb-2024",
        "SAVEDSINCE",
        "SAVEDATESUPPORTED",
        "EMAILID M0123abc",
        "EMAILID",
        "THREADID T-_x",
        "EMAILID (x)",
        "NOT SAVEDON 9-Dec-2026",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(OPTION, max_size=5), KEYS, st.booleans())
def test_return_options_parse_consistently(options, key, sort):
    criteria = "(DATE) UTF-8 " if sort else ""
    line = f"a1 {'SORT' if sort else 'SEARCH'} RETURN ({' '.join(options)}) {criteria}{key}\r\n"
    try:
        cmd = parse_command(line.encode())
    except BadSyntax as exc:
        assert exc.tag == "a1" and exc.reason
        return
    assert isinstance(cmd, c.Sort | c.Search)
    opts = cmd.return_opts or ()
    assert len(set(opts)) == len(opts) and not {"PARTIAL", "ALL"} <= set(opts)
    assert ("PARTIAL" in opts) == (cmd.partial is not None)
    if cmd.partial is not None:
        first, last = cmd.partial
        assert (first > 0) == (last > 0) and 0 < abs(first) <= abs(last) <= 0xFFFFFFFF


@given(
    st.lists(st.integers(1, 50), unique=True), st.integers(1, 60), st.integers(1, 60), st.booleans()
)
def test_partial_slice_picks_the_named_positions(result, a, b, from_end):
    a, b = min(a, b), max(a, b)
    picked = result[partial_slice(len(result), (-a, -b) if from_end else (a, b))]
    positions = range(len(result) - b, len(result) - a + 1) if from_end else range(a - 1, b)
    assert picked == [result[p] for p in positions if 0 <= p < len(result)]
    # the ordered set reads back as the same numbers in the same order
    back = []
    for part in ordered_set(picked).split(",") if picked else []:
        lo, _, hi = part.partition(":")
        back.extend(range(int(lo), int(hi or lo) + 1))
    assert back == picked


URL_PIECES = st.sampled_from(
    [
        "imap://",
        "a%40example.org@",
        "mail.example.org",
        ":143",
        "/",
        "INBOX",
        "&AMQ-",
        "%C3%BC",
        "%FF",
        ";UIDVALIDITY=",
        ";UID=",
        "/;UID=",
        ";SECTION=",
        "1.MIME",
        ";PARTIAL=",
        "0.10",
        ";URLAUTH=",
        "submit+a:internal:00",
        ";EXPIRE=",
        "1",
        "0",
        "4294967296",
        ";",
        "=",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(URL_PIECES | st.text(max_size=3), max_size=12))
def test_urls_parse_or_fail_with_value_error(pieces):
    text = "".join(pieces)
    try:
        url = parse_url(text)
    except ValueError:
        return
    assert isinstance(url, ImapUrl) and url.mailbox and 0 < url.uid <= 0xFFFFFFFF
