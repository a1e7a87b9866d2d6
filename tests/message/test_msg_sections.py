"""BODY[<section>] and BINARY[] extraction (RFC 9051 §6.4.5, RFC 3516), with and
without the per-recipient trace prefix in front of the blob."""

from __future__ import annotations

import pytest

from postfach.message import (
    ParsedMessage,
    decode_part_body,
    find_part,
    parse_message,
    section_bytes,
    trace_prefix,
)

from .corpus import load

PREFIX = trace_prefix("bounce@example.org", "bob@example.com", "from mx by mail; now")


def sections(name: str) -> tuple[bytes, ParsedMessage]:
    raw = load(name)
    return raw, parse_message(raw)


def test_top_level_sections_simple() -> None:
    raw, p = sections("simple")
    header = raw[:378]
    assert section_bytes(raw, p, (), None) == raw
    assert section_bytes(raw, p, (), "HEADER") == header
    assert header.endswith(b"In-Reply-To: <plan-0@example.com>\r\n\r\n")
    assert section_bytes(raw, p, (), "TEXT") == raw[378:]
    assert section_bytes(raw, p, (), "MIME") is None
    # BODY[1] of a non-multipart message is its body; its MIME header is the message header.
    assert section_bytes(raw, p, (1,), None) == raw[378:]
    assert section_bytes(raw, p, (1,), "MIME") == header
    assert section_bytes(raw, p, (2,), None) is None
    assert section_bytes(raw, p, (1, 1), None) is None
    assert section_bytes(raw, p, (1,), "HEADER") is None
    assert section_bytes(raw, p, (1,), "TEXT") is None


def test_header_fields_keep_order_folding_and_end_with_blank_line() -> None:
    raw, p = sections("simple")
    got = section_bytes(raw, p, (), "HEADER.FIELDS", ("SUBJECT", "received", "X-Absent"))
    assert got == (
        b"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
        b"\tby mail.example.com with ESMTPS id 4Z1;\r\n"
        b"\tMon, 01 Jan 2024 10:00:05 +0100\r\n"
        b"Subject: Lunch\r\n tomorrow?\r\n"
        b"\r\n"
    )
    assert section_bytes(raw, p, (), "HEADER.FIELDS", ("x-absent",)) == b"\r\n"
    got = section_bytes(
        raw, p, (), "HEADER.FIELDS.NOT", ("received", "Return-Path", "subject", "date")
    )
    assert got == (
        b"From: Alice Example <alice@example.org>\r\n"
        b"To: Bob <bob@example.com>\r\n"
        b"Message-ID: <lunch-1@example.org>\r\n"
        b"In-Reply-To: <plan-0@example.com>\r\n"
        b"\r\n"
    )


def test_multipart_parts_and_mime_headers() -> None:
    raw, p = sections("mixed-nested")
    assert section_bytes(raw, p, (1, 1), None) == b"See the attached report."
    assert section_bytes(raw, p, (1, 2), None) == b"<p>See the <b>attached</b> report.</p>"
    assert section_bytes(raw, p, (1, 1), "MIME") == b"Content-Type: text/plain\r\n\r\n"
    assert section_bytes(raw, p, (1,), "MIME") == (
        b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    )
    assert section_bytes(raw, p, (1,), None) == (
        b"--inner\r\nContent-Type: text/plain\r\n\r\nSee the attached report.\r\n"
        b"--inner\r\nContent-Type: text/html\r\n\r\n<p>See the <b>attached</b> report.</p>\r\n"
        b"--inner--\r\n"
    )
    assert section_bytes(raw, p, (2,), None) == b"JVBERi0xLjQKJeLjz9MK"
    assert section_bytes(raw, p, (3,), None) == b"iVBORw0KGgo="
    assert section_bytes(raw, p, (4,), None) is None
    assert section_bytes(raw, p, (0,), None) is None
    assert section_bytes(raw, p, (1, 3), None) is None
    assert section_bytes(raw, p, (2, 1), None) is None
    assert section_bytes(raw, p, (2,), "HEADER") is None
    assert section_bytes(raw, p, (2,), "BOGUS") is None


def test_message_rfc822_part_sections() -> None:
    raw, p = sections("rfc822")
    embedded = raw[raw.index(b"From: Oscar") : raw.index(b"\r\n--fwd--")]
    head, _, text = embedded.partition(b"\r\n\r\n")
    assert section_bytes(raw, p, (2,), None) == embedded
    assert section_bytes(raw, p, (2,), "HEADER") == head + b"\r\n\r\n"
    assert section_bytes(raw, p, (2,), "TEXT") == text
    assert section_bytes(raw, p, (2,), "MIME") == (
        b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    )
    assert section_bytes(raw, p, (2,), "HEADER.FIELDS", ("subject", "from")) == (
        b"From: Oscar <oscar@example.net>\r\nSubject: Original\r\n\r\n"
    )
    assert section_bytes(raw, p, (2, 1), None) == b"Original text."
    assert section_bytes(raw, p, (2, 2), None) == b"a,b\r\n1,2"
    assert section_bytes(raw, p, (2, 2), "MIME") == b"Content-Type: text/csv; name=data.csv\r\n\r\n"
    assert section_bytes(raw, p, (2, 3), None) is None
    # The top-level header is not the embedded one.
    top = section_bytes(raw, p, (), "HEADER.FIELDS", ("subject",))
    assert top == b"Subject: Fwd: Original\r\n\r\n"


def test_single_part_embedded_message_part_one() -> None:
    inner = b"Subject: inner\r\n\r\njust text\r\n"
    raw = b"Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    p = parse_message(raw)
    assert section_bytes(raw, p, (1,), None) == inner
    assert section_bytes(raw, p, (1,), "TEXT") == b"just text\r\n"
    assert section_bytes(raw, p, (1, 1), None) == b"just text\r\n"
    assert section_bytes(raw, p, (1, 1), "MIME") == b"Subject: inner\r\n\r\n"
    assert find_part(p, (1, 2)) is None


def test_prefix_joins_the_top_level_header_only() -> None:
    raw, p = sections("rfc822")
    header = raw[: p.header_end]
    assert PREFIX.startswith(b"Return-Path: <bounce@example.org>\r\n")
    assert section_bytes(raw, p, (), None, prefix=PREFIX) == PREFIX + raw
    assert section_bytes(raw, p, (), "HEADER", prefix=PREFIX) == PREFIX + header
    assert section_bytes(raw, p, (), "TEXT", prefix=PREFIX) == raw[p.header_end :]
    got = section_bytes(raw, p, (), "HEADER.FIELDS", ("received", "subject"), prefix=PREFIX)
    assert got == b"Received: from mx by mail; now\r\nSubject: Fwd: Original\r\n\r\n"
    assert section_bytes(raw, p, (2,), "HEADER", prefix=PREFIX) == section_bytes(
        raw, p, (2,), "HEADER"
    )
    assert section_bytes(raw, p, (1,), None, prefix=PREFIX) == b"See below."
    assert section_bytes(raw, p, (1,), "MIME", prefix=PREFIX) == (
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )


def test_prefix_on_single_part_mime_header() -> None:
    raw, p = sections("simple")
    assert section_bytes(raw, p, (1,), "MIME", prefix=PREFIX) == PREFIX + raw[:378]
    assert section_bytes(raw, p, (1,), None, prefix=PREFIX) == raw[378:]


def test_memoryview_blob() -> None:
    raw, p = sections("mixed-nested")
    view = memoryview(raw)
    assert section_bytes(view, p, (1, 1), None) == b"See the attached report."
    assert section_bytes(view, p, (), "HEADER.FIELDS", ("subject",)) == b"Subject: Report\r\n\r\n"


def test_header_fields_on_bare_lf_and_unterminated_headers() -> None:
    raw, p = sections("lf-bare")
    assert section_bytes(raw, p, (), "HEADER.FIELDS", ("subject",)) == b"Subject: bare LF\n\r\n"
    raw = b"Subject: no end"
    p = parse_message(raw)
    assert p.header_end == len(raw)
    assert section_bytes(raw, p, (), "HEADER.FIELDS", ("subject",)) == b"Subject: no end\r\n\r\n"
    assert section_bytes(raw, p, (), "TEXT") == b""


def test_decode_part_body() -> None:
    raw, p = sections("alternative")
    plain, html = p.body.parts
    assert decode_part_body(raw, plain) == (
        "Schöne Grüße aus Köln, eine lange Zeile, die hier umgebrochen wird.".encode()
    )
    got = decode_part_body(raw, html)
    assert got is not None and got.startswith(b"<html><body><p>Sch\xc3\xb6ne")
    raw, p = sections("mixed-nested")
    assert decode_part_body(raw, p.body.parts[1]) == b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    assert decode_part_body(raw, p.body.parts[0].parts[0]) == b"See the attached report."


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        ("base64", b"aGVs\r\nbG8", b"hello"),
        ("base64", b"aGVs*bG8=\r\n", b"hello"),
        ("quoted-printable", b"a=3Db=\r\nc", b"a=bc"),
        ("8bit", b"\xff\x00", b"\xff\x00"),
        ("x-uuencode", b"begin 644 x", None),
    ],
)
def test_decode_part_body_encodings(encoding: str, body: bytes, expected: bytes | None) -> None:
    raw = b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n\r\n" + body
    p = parse_message(raw)
    assert p.body.encoding == encoding.upper()
    assert decode_part_body(raw, p.body) == expected
