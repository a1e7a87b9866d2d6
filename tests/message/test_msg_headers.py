"""Header helpers: field lookup, encoded words, trace prefix, parameters, addresses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.message import (
    Address,
    decode_words,
    header_value,
    param_value,
    parse_message,
    trace_prefix,
)
from postfach.message.address import (
    address_search_text,
    email_package_addresses,
    header_from_addresses,
    parse_address_list,
    read_address_list,
)
from postfach.message.headers import fold_field
from postfach.message.params import content_type, disposition

from .corpus import addr, load


def test_header_value_all_occurrences_unfolded() -> None:
    raw = load("simple")
    assert header_value(raw, "subject") == [b"Lunch tomorrow?"]
    assert header_value(raw, "RECEIVED") == [
        b"from mx.example.org (mx.example.org [192.0.2.1])\tby mail.example.com with ESMTPS"
        b" id 4Z1;\tMon, 01 Jan 2024 10:00:05 +0100"
    ]
    assert header_value(raw, "x-none") == []
    both = header_value(memoryview(raw), "received", prefix=b"Received: from a\r\n")
    assert len(both) == 2 and both[0] == b"from a"


def test_header_value_ignores_body_and_parts() -> None:
    raw = load("rfc822")
    assert header_value(raw, "subject") == [b"Fwd: Original"]
    assert header_value(raw, "content-type") == [b'multipart/mixed; boundary="fwd"']


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"=?utf-8?q?caf=C3=A9?=", "café"),
        (b"=?UTF-8?B?w6Q=?= =?UTF-8?B?w7Y=?=", "äö"),
        (b"a =?iso-8859-1?q?=E9?= b", "a é b"),
        (b"=?ISO-8859-1*de?Q?gr=FC=DF?=", "grüß"),
        (b"=?x-unknown?q?abc?=", "abc"),
        (b"=?utf-8?b?!!!?=", ""),
        (b"plain\r\n folded", "plain folded"),
        (b"Gr\xc3\xbc\xdf", "Grüß"),
    ],
)
def test_decode_words(raw: bytes, text: str) -> None:
    assert decode_words(raw) == text


def test_trace_prefix_lines_and_folding() -> None:
    received = (
        "from client.example.net (client.example.net [198.51.100.7]) by mail.example.com "
        "(postfach) with ESMTPSA id 8f1c2 for <bob@example.com>; Mon, 01 Jan 2024 10:00:05 +0100"
    )
    prefix = trace_prefix("<alice@example.org>", "bob@example.com", received)
    lines = prefix.split(b"\r\n")
    assert lines[0] == b"Return-Path: <alice@example.org>"
    assert lines[1] == b"Delivered-To: bob@example.com"
    assert lines[2].startswith(b"Received: from client.example.net")
    assert lines[-1] == b""
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b"\t") for line in lines[3:-1])
    raw = prefix + b"Subject: s\r\n\r\nbody"
    p = parse_message(raw)
    (value,) = header_value(raw, "received")
    assert b" ".join(value.split()) == received.encode()
    assert p.envelope.subject == b"s"


def test_trace_prefix_null_sender_and_injection() -> None:
    prefix = trace_prefix("", "bob@example.com\r\nBcc: evil@example.net")
    assert prefix == b"Return-Path: <>\r\nDelivered-To: bob@example.com Bcc: evil@example.net\r\n"


def test_fold_field_keeps_long_words_whole() -> None:
    word = "x" * 100
    assert fold_field("X-Long", f"a {word} b") == f"X-Long: a\r\n\t{word}\r\n\tb\r\n".encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"TEXT/Plain", ("text", "plain", ())),
        (b' text / html ; charset = "utf-8" (comment)', ("text", "html", (("charset", "utf-8"),))),
        (
            b'multipart/mixed;\r\n boundary="a;b=c"',
            ("multipart", "mixed", (("boundary", "a;b=c"),)),
        ),
        (b'a/b; x="q\\"uote"; X=2; x=3', ("a", "b", (("x", 'q"uote'),))),
        (b"a/b; t*1=two; t*0=one", ("a", "b", (("t", "onetwo"),))),
        (b"a/b; t*0*=utf-8''%C3%A4; t*1=b c", ("a", "b", (("t*", "utf-8''%C3%A4b"),))),
        (b"a/b; t*0*=utf-8''%C3%A4; t*1=\"b c\"", ("a", "b", (("t*", "utf-8''%C3%A4b%20c"),))),
        (b"a/b; t*=us-ascii'en'x%20y", ("a", "b", (("t*", "us-ascii'en'x%20y"),))),
        (b"a/b; name=\xc3\xa4.txt", ("a", "b", (("name", "ä.txt"),))),
        (b"nonsense", None),
    ],
)
def test_content_type(value: bytes, expected: object) -> None:
    assert content_type(value) == expected


def test_param_value_decodes_rfc2231() -> None:
    params = (("a", "plain"), ("b*", "iso-8859-1'de'gr%FC%DF"), ("c*", "no-quote"))
    assert param_value(params, "a") == "plain"
    assert param_value(params, "b") == "grüß"
    assert param_value(params, "c") == "no-quote"
    assert param_value(params, "d") is None


def test_undecodable_param_bytes_survive_exactly() -> None:
    typ = content_type(b"a/b; name=\xff\xfe")
    assert typ is not None
    value = typ[2][0][1]
    assert value.encode("utf-8", "surrogateescape") == b"\xff\xfe"


def test_disposition() -> None:
    assert disposition(b"Attachment; FILENAME=a.txt") == ("attachment", (("filename", "a.txt"),))
    assert disposition(b"  ") is None
    assert disposition(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"a@b", (addr(None, b"a", b"b"),)),
        (
            b"Joe Q. Public <john.q.public@example.com>",
            (addr(b"Joe Q. Public", b"john.q.public", b"example.com"),),
        ),
        (
            b'"Giant; \\"Big\\" Box" <sysservices@example.net>',
            (addr(b'Giant; "Big" Box', b"sysservices", b"example.net"),),
        ),
        (
            b"<@route.example,@b.example:x@y.example>",
            (Address(None, b"@route.example,@b.example", b"x", b"y.example"),),
        ),
        (b'"john doe"@example.com', (addr(None, b"john doe", b"example.com"),)),
        (b"user@[192.0.2.1]", (addr(None, b"user", b"[192.0.2.1]"),)),
        (
            b"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            (addr(b"Pete", b"pete", b"silly.test"),),
        ),
        (b"nobody", (addr(None, b"nobody", b"MISSING_DOMAIN"),)),
        (b"<>", (addr(None, b"MISSING_MAILBOX", b"MISSING_DOMAIN"),)),
        (
            b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
            (
                addr(None, b"A Group", None),
                addr(b"Ed Jones", b"c", b"a.test"),
                addr(None, b"joe", b"where.test"),
                addr(b"John", b"jdoe", b"one.test"),
                addr(None, None, None),
            ),
        ),
        (b"g: a@b", (addr(None, b"g", None), addr(None, b"a", b"b"), addr(None, None, None))),
        (b" , ,", None),
        (b"", None),
        (b'"unterminated <a@b>', (addr(None, b"unterminated <a@b>", b"MISSING_DOMAIN"),)),
        (b"=?utf-8?q?J=C3=B6rg?= <j@x>", (addr(b"=?utf-8?q?J=C3=B6rg?=", b"j", b"x"),)),
    ],
)
def test_address_lists(value: bytes, expected: object) -> None:
    assert parse_address_list(value) == expected


ADDRESS_BITS = [
    b"<",
    b">",
    b"@",
    b",",
    b";",
    b":",
    b'"',
    b"\\",
    b"(",
    b")",
    b"[",
    b"]",
    b" ",
    b"a",
    b"=?utf-8?q?x?=",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ADDRESS_BITS) | st.binary(max_size=3), max_size=20))
def test_address_search_text_of_anything(bits: list[bytes]) -> None:
    """Delivery parses every From/To/Cc/Bcc: whatever they hold, no exception."""
    value = b"".join(bits)
    assert isinstance(address_search_text(value), str)
    parse_address_list(value)


_SIMPLE_BITS = [b"a", b"b.c", b"x]", b"\xc3\xa9", b"=?utf-8?q?x?=", b" ", b"\t", b"\r\n "]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(_SIMPLE_BITS), max_size=6),
    st.sampled_from(_SIMPLE_BITS[:5]),
    st.sampled_from(_SIMPLE_BITS[:5]),
    st.booleans(),
    st.lists(st.sampled_from(ADDRESS_BITS) | st.binary(max_size=3), max_size=8),
)
def test_the_short_way_reads_addresses_as_the_tokenizer_does(
    name: list[bytes], local: bytes, host: bytes, angle: bool, noise: list[bytes]
) -> None:
    """``Name <a@b>`` and ``a@b`` skip the tokenizer; the result is the tokenizer's,
    for those forms and for anything else."""
    simple = b"".join(name) + (b"<%s@%s>" % (local, host) if angle else b" %s@%s " % (local, host))
    for value in (simple, b"".join(noise), simple + b"".join(noise)):
        assert parse_address_list(value) == read_address_list(value), value


_FROM_BITS = ["a", "b.c", "O'N", "x-y", "_", ".", " ", "\t", "@", "<", ">", '"', ",", "(", ")", "+"]
_FROM_BITS += ["é", "=?utf-8?q?x?="]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_FROM_BITS), max_size=12), st.booleans())
def test_from_addresses_are_the_email_packages(bits: list[str], angle: bool) -> None:
    """A plain From is read at once; the result is the email package's, for plain
    values and for anything else."""
    name, local, host = "".join(bits[:4]), "".join(bits[4:8]) or "a", "".join(bits[8:]) or "b"
    for value in (f"{name} <{local}@{host}>" if angle else f"{local}@{host}", "".join(bits)):
        raw = b"From: " + value.encode() + b"\r\nTo: x@y\r\n\r\nbody"
        assert header_from_addresses(raw) == email_package_addresses(value), value


def test_address_search_text_is_what_dovecot_matches() -> None:
    assert address_search_text(b"<@route:user@domain>") == "<@route:user@domain>"
    assert address_search_text(b"<u (c)@ (c) d.org>") == "<u@d.org>"
    assert address_search_text(b"g: a@b, Mary <m@x>;, c@d") == "g: <a@b>, Mary <m@x>;, <c@d>"
    assert address_search_text(b"a@b (Comment Name)") == '"Comment Name" <a@b>'
    assert address_search_text(b'"a b"@c') == '<"a b"@c>'
    assert address_search_text(None) == ""
