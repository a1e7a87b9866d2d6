"""The sans-IO half of the mailing SMTP client: reply parser and framing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.mailing.smtpwire import (
    MAX_LINE,
    MAX_LINES,
    AddressRefused,
    Reply,
    ReplyError,
    ReplyParser,
    auth_cram_md5,
    auth_plain,
    data_block,
    ehlo_keywords,
    mail_command,
    rcpt_command,
)


def test_single_and_multiline_replies():
    parser = ReplyParser()
    got = parser.feed(
        b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
    )
    assert got == [
        Reply(220, ("mx.example ESMTP",)),
        Reply(250, ("mx.example", "PIPELINING", "SIZE 1000")),
    ]
    assert got[1].words() == "250 mx.example PIPELINING SIZE 1000"
    assert not parser.pending


def test_bare_code_and_bare_lf_and_split_input():
    parser = ReplyParser()
    assert parser.feed(b"25") == []
    assert parser.pending
    assert parser.feed(b"0\n354 go") == [Reply(250, ("",))]
    assert parser.feed(b" ahead\r") == []
    assert parser.feed(b"\n") == [Reply(354, ("go ahead",))]


def test_words_keep_the_relays_own_text():
    reply = ReplyParser().feed(
        b"554-5.7.1 Message rejected\r\n554 5.7.1   under suspicion of SPAM\r\n"
    )
    assert reply[0].words() == "554 5.7.1 Message rejected 5.7.1 under suspicion of SPAM"
    assert reply[0].text == "5.7.1 Message rejected\n5.7.1   under suspicion of SPAM"


@pytest.mark.parametrize(
    "raw",
    [
        b"hello\r\n",
        b"25\r\n",
        b"600 no\r\n",
        b"199 no\r\n",
        b"260 second digit\r\n",
        b"250_x\r\n",
        b"250-a\r\n251 b\r\n",
        b"\xff\xfe\xfd\r\n",
        b"\r\n",
        b"\xd9\xa2\xd9\xa5\xd9\xa0 arabic digits\r\n",
    ],
)
def test_malformed_replies_raise(raw: bytes):
    with pytest.raises(ReplyError):
        ReplyParser().feed(raw)


def test_overlong_line_and_endless_reply_are_refused():
    with pytest.raises(ReplyError, match="longer"):
        ReplyParser().feed(b"250 " + b"x" * MAX_LINE)
    with pytest.raises(ReplyError, match="longer"):
        ReplyParser().feed(b"250 " + b"x" * MAX_LINE + b"\r\n")
    with pytest.raises(ReplyError, match="lines"):
        ReplyParser().feed(b"250-x\r\n" * (MAX_LINES + 1))


def test_non_utf8_text_is_replaced_not_fatal():
    (reply,) = ReplyParser().feed(b"550 caf\xe9\r\n")
    assert reply.code == 550 and reply.text == "caf\ufffd"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 50), max_size=10))
def test_arbitrary_bytes_give_replies_or_reply_error(data: bytes, cuts: list[int]):
    parser = ReplyParser()
    pos = 0
    try:
        for cut in [*cuts, len(data)]:
            for reply in parser.feed(data[pos : pos + cut]):
                assert 200 <= reply.code <= 559 and len(reply.lines) <= MAX_LINES
            pos += cut
    except ReplyError:
        return
    assert len(parser._buffer) <= MAX_LINE  # bounded, whatever came


line_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(200, 559).filter(lambda c: c % 100 < 60),
            st.lists(line_text, min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 30),
)
def test_valid_replies_survive_any_chunking(replies: list[tuple[int, list[str]]], size: int):
    wire = b"".join(
        b"".join(
            f"{code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n".encode()
            for i, line in enumerate(lines)
        )
        for code, lines in replies
    )
    parser = ReplyParser()
    got: list[Reply] = []
    for start in range(0, len(wire), size):
        got.extend(parser.feed(wire[start : start + size]))
    assert got == [Reply(code, tuple(lines)) for code, lines in replies]


def test_ehlo_keywords():
    reply = Reply(250, ("mx.example greets you", "PIPELINING", "size 1000", "AUTH=LOGIN PLAIN"))
    assert ehlo_keywords(reply) == {
        "PIPELINING": "",
        "SIZE": "1000",
        "AUTH=LOGIN": "PLAIN",
        "AUTH": "LOGIN PLAIN",
    }
    assert ehlo_keywords(Reply(250, ("x", "AUTH PLAIN", "AUTH=LOGIN")))["AUTH"] == "PLAIN"


def test_envelope_lines_refuse_smuggling():
    assert mail_command("a@b.example", ["BODY=8BITMIME"], False) == (
        b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n"
    )
    assert rcpt_command("ü@b.example", True) == "RCPT TO:<ü@b.example>\r\n".encode()
    for bad in ("a@b\r\nRCPT TO:<x@y>", "a@b\n", "a>@b", "a\0@b", "x" * 999):
        with pytest.raises(AddressRefused):
            rcpt_command(bad, False)
        with pytest.raises(AddressRefused):
            mail_command(bad, [], False)


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\r\nb", b"a\r\nb\r\n.\r\n"),
        (b".a\r\n.\r\n..b\r\n", b"..a\r\n..\r\n...b\r\n.\r\n"),
        (b"a\n.\nb\r.\rc", b"a\r\n..\r\nb\r\n..\r\nc\r\n.\r\n"),  # smuggling attempts
        (b"", b".\r\n"),
    ],
)
def test_data_block(data: bytes, wire: bytes):
    assert b"".join(data_block(data)) == wire


def test_clean_data_is_only_stuffed():
    assert b"".join(data_block(b".a\r\n.b\r\nc\r\n", clean=True)) == b"..a\r\n..b\r\nc\r\n.\r\n"
    body = b"a\r\nb\r\n"
    pieces = data_block(body, clean=True)
    assert pieces == [body, b".\r\n"] and pieces[0] is body  # no copy of the message


@given(st.binary(max_size=300))
def test_data_block_never_ends_early(data: bytes):
    wire = b"".join(data_block(data))
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[:-3]
    assert b"\r\n.\r\n" not in b"\r\n" + body
    assert body.count(b"\n") == body.count(b"\r\n") == body.count(b"\r")


def test_sasl_answers():
    line = auth_plain("user", "pässword")
    assert base64.b64decode(line.split()[2]) == "\0user\0pässword".encode()
    challenge = base64.b64encode(b"<1896.697170952@postoffice.reston.mci.net>").decode()
    answer = base64.b64decode(auth_cram_md5(challenge, "tim", "tanstaaftanstaaf").strip())
    digest = hmac.new(b"tanstaaftanstaaf", base64.b64decode(challenge), hashlib.md5)
    assert answer == b"tim " + digest.hexdigest().encode()
    assert answer == b"tim b913a602c7eda7a495b4e6e7334d3890"  # RFC 2195 §2
    with pytest.raises(ReplyError):
        auth_cram_md5("not base64!", "tim", "pw")
