"""The sans-IO SMTP parser and DATA framing, without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.message.xtext import xtext_encode
from postfach.smtp import replies
from postfach.smtp.commands import Auth, Bdat, Burl, Data, Helo, Mail, Noop, Quit, Rcpt, StartTls
from postfach.smtp.data import DataCollector, finish_content
from postfach.smtp.errors import SmtpError
from postfach.smtp.parser import parse_command, xtext_decode


def error_of(line: bytes) -> replies.Reply:
    with pytest.raises(SmtpError) as info:
        parse_command(line)
    return info.value.reply


def test_simple_commands() -> None:
    assert parse_command(b"EHLO client.example") == Helo("client.example", True)
    assert parse_command(b"helo x") == Helo("x", False)
    assert parse_command(b"DATA") == Data()
    assert parse_command(b"quit") == Quit()
    assert parse_command(b"NOOP anything") == Noop()
    assert parse_command(b"STARTTLS") == StartTls()
    assert parse_command(b"AUTH plain dGVzdA==") == Auth("PLAIN", "dGVzdA==")
    assert parse_command(b"BDAT 100 LAST") == Bdat(100, True)
    assert parse_command(b"BDAT 0") == Bdat(0, False)
    assert parse_command(b"BURL imap://a@h/D;uid=1;urlauth=submit+a:internal:00 last") == Burl(
        "imap://a@h/D;uid=1;urlauth=submit+a:internal:00", True
    )
    assert parse_command(b"burl imap://a@h/D;uid=1") == Burl("imap://a@h/D;uid=1", False)


def test_mail_and_parameters() -> None:
    cmd = parse_command(b"MAIL FROM:<a@Example.ORG> SIZE=1000 BODY=8bitmime RET=HDRS ENVID=QQ+2B1")
    assert isinstance(cmd, Mail)
    assert cmd.address == "a@example.org"
    assert cmd.params.size == 1000
    assert cmd.params.body == "8BITMIME"
    assert cmd.params.ret == "HDRS"
    assert cmd.params.envid == "QQ+1"
    null = parse_command(b"MAIL FROM:<>")
    assert isinstance(null, Mail) and null.address == ""
    spaced = parse_command(b"MAIL FROM: <b@example.org>")
    assert isinstance(spaced, Mail) and spaced.address == "b@example.org"
    utf8 = parse_command("MAIL FROM:<jörg@bücher.example> SMTPUTF8".encode())
    assert isinstance(utf8, Mail) and utf8.params.smtputf8


def test_rcpt_dsn_parameters() -> None:
    cmd = parse_command(
        b"RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.org"
    )
    assert isinstance(cmd, Rcpt)
    assert cmd.params.notify == frozenset({"SUCCESS", "FAILURE"})
    assert cmd.params.orcpt == ("rfc822", "b@example.org")
    never = parse_command(b"RCPT TO:<b@example.org> NOTIFY=NEVER")
    assert isinstance(never, Rcpt) and never.params.notify == frozenset({"NEVER"})
    quoted = parse_command(b'RCPT TO:<"john doe"@example.org>')
    assert isinstance(quoted, Rcpt) and quoted.address == '"john doe"@example.org'
    postmaster = parse_command(b"RCPT TO:<Postmaster>")
    assert isinstance(postmaster, Rcpt) and postmaster.address == "postmaster"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"FOO bar", replies.SYNTAX_ERROR),
        (b"", replies.SYNTAX_ERROR),
        (b"EXPN list", replies.NOT_IMPLEMENTED),
        (b"EHLO", replies.BAD_ARGUMENTS),
        (b"DATA x", replies.BAD_ARGUMENTS),
        (b"MAIL TO:<a@b.c>", replies.BAD_SENDER),
        (b"MAIL FROM:<a@@b>", replies.BAD_SENDER),
        (b"MAIL FROM:<a@b.c", replies.BAD_SENDER),
        (b"RCPT TO:<>", replies.BAD_RECIPIENT),
        (b"RCPT TO:<a b@c.d>", replies.BAD_RECIPIENT),
        (b"MAIL FROM:<a@b.c> SIZE=abc", replies.BAD_PARAMETER),
        (b"MAIL FROM:<a@b.c> FOO=1", replies.BAD_PARAMETER),
        (b"MAIL FROM:<a@b.c> RET=ALL", replies.BAD_PARAMETER),
        (b"MAIL FROM:<a@b.c> BODY=9BIT", replies.BAD_PARAMETER),
        (b"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", replies.BAD_ARGUMENTS),
        (b"RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS", replies.BAD_PARAMETER),
        (b"RCPT TO:<a@b.c> ORCPT=rfc822", replies.BAD_PARAMETER),
        (b"BDAT x", replies.BAD_ARGUMENTS),
        (b"BDAT 10 FIRST", replies.BAD_ARGUMENTS),
        (b"BURL", replies.BAD_ARGUMENTS),
        (b"BURL imap://a@h/D;uid=1 FIRST", replies.BAD_ARGUMENTS),
        (b"MAIL FROM:<\xff@b.c>", replies.BAD_ARGUMENTS),
        (b"MAIL FROM:<" + b"a" * 65 + b"@b.c>", replies.BAD_SENDER),
    ],
)
def test_errors(line: bytes, reply: replies.Reply) -> None:
    assert error_of(line) == reply


def test_xtext_round_trip() -> None:
    for text in ["plain", "a+b=c", "ümlaut", "x y"]:
        assert xtext_decode(xtext_encode(text)) == text or not text.isascii()


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_command_or_an_error_reply(line: bytes) -> None:
    try:
        parse_command(line)
    except SmtpError as exc:
        assert 500 <= exc.reply.code < 600


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_after_a_verb_is_handled(arg: str) -> None:
    for verb in ("MAIL FROM:", "RCPT TO:", "EHLO ", "AUTH ", "BDAT ", "BURL ", "VRFY "):
        try:
            parse_command((verb + arg).encode("utf-8", "surrogatepass"))
        except SmtpError as exc:
            assert 500 <= exc.reply.code < 600


def collect(chunks: list[bytes], max_size: int = 10_000) -> tuple[DataCollector, bytes | None]:
    collector = DataCollector(max_size)
    rest = None
    for chunk in chunks:
        rest = collector.feed(chunk)
        if rest is not None:
            break
    return collector, rest


def test_data_ends_only_at_crlf_dot_crlf() -> None:
    collector, rest = collect([b"Subject: x\r\n\r\nhello\n.\nstill data\r\n", b".\r\nQUIT\r\n"])
    assert rest == b"QUIT\r\n"
    assert finish_content(collector.content()) == b"Subject: x\r\n\r\nhello\r\n.\r\nstill data\r\n"


def test_data_smuggling_variants_do_not_end_data() -> None:
    for fake_end in (b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"):
        body = b"a" + fake_end + b"MAIL FROM:<x@evil.example>\r\n"
        collector, rest = collect([body])
        assert rest is None, fake_end


def test_data_terminator_split_across_chunks() -> None:
    collector, rest = collect([b"x\r", b"\n", b".", b"\r", b"\n"])
    assert rest == b""
    assert collector.content() == b"x\r\n"


def test_empty_message_and_dot_unstuffing() -> None:
    collector, rest = collect([b".\r\n"])
    assert rest == b"" and collector.content() == b""
    collector, _ = collect([b"..leading\r\n...\r\n.\r\n"])
    assert finish_content(collector.content()) == b".leading\r\n..\r\n"


def test_data_size_limit_and_long_lines() -> None:
    collector, rest = collect([b"x" * 500, b"y" * 600, b"\r\n.\r\n"], max_size=1000)
    assert collector.too_big and rest == b""
    with pytest.raises(SmtpError) as info:
        finish_content(b"a" * 999 + b"\r\n")
    assert info.value.reply == replies.LINE_TOO_LONG_DATA
    assert finish_content(b"a" * 998 + b"\r\n") == b"a" * 998 + b"\r\n"


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_data_collector_never_crashes(chunks: list[bytes]) -> None:
    collector, rest = collect([*chunks, b"\r\n.\r\n"], max_size=200)
    assert rest is not None
    if not collector.too_big:
        try:
            finish_content(collector.content())
        except SmtpError as exc:
            assert exc.reply == replies.LINE_TOO_LONG_DATA


def test_reply_constants_are_consistent() -> None:
    for name, value in vars(replies).items():
        if isinstance(value, replies.Reply):
            assert 200 <= value.code < 600, name
            if value.status:
                assert value.status[0] == str(value.code)[0], name
    assert replies.AUTH_REQUIRED.to_bytes() == b"530 5.7.0 Authentication required\r\n"
    multi = replies.Reply(250, "", "a\nb\nc").to_bytes()
    assert multi == b"250-a\r\n250-b\r\n250 c\r\n"
