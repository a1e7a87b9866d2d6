"""Broken and hostile input: the parser reads as far as it goes and never raises."""

from __future__ import annotations

import pytest

from postfach.message import ParsedMessage, parse_message, section_bytes
from postfach.message.parse import MAX_PARTS, _parse


def test_empty_input() -> None:
    p = _parse(b"")
    assert p.header_end == 0
    b = p.body
    assert (b.type, b.subtype, b.params) == ("text", "plain", (("charset", "us-ascii"),))
    assert (b.size, b.lines, b.header_start, b.header_end, b.body_end) == (0, 0, 0, 0, 0)
    assert p.envelope.from_ is None and p.date is None
    assert section_bytes(b"", p, (), None) == b""
    assert section_bytes(b"", p, (), "HEADER") == b""
    assert ParsedMessage.from_json(p.to_json()) == p


def test_blank_line_first_means_empty_header() -> None:
    p = _parse(b"\r\nFrom: not a header\r\n")
    assert p.header_end == 2
    assert p.envelope.from_ is None
    assert p.body.size == 20


@pytest.mark.timeout(60)  # linear: well under a second; quadratic: hours
def test_huge_header_field() -> None:
    raw = b"Subject: " + b"x" * 1_000_000 + b"\r\nFrom: a@b\r\n\r\nbody\r\n"
    p = _parse(raw)
    assert p.envelope.subject == b"x" * 1_000_000
    assert p.envelope.from_ is not None
    assert p.header_end == len(raw) - 6


# Linear parsing takes about a second; a quadratic one would take many minutes
# and meet this bound (no timed assertion: a busy machine must not fail it).
@pytest.mark.timeout(60)
def test_huge_folded_header_and_many_fields() -> None:
    folded = b"X-Long: start" + b"\r\n continued line" * 60_000 + b"\r\n"
    many = b"".join(b"X-F%d: v\r\n" % i for i in range(20_000))
    raw = folded + many + b"Subject: last\r\n\r\nbody"
    p = _parse(raw)
    assert p.envelope.subject == b"last"
    assert p.header_end == len(raw) - 4


def test_nul_bytes_everywhere() -> None:
    raw = b"Sub\x00ject: a\x00b\r\nFrom: \x00<x@y>\r\n\r\n\x00\x00body"
    p = _parse(raw)
    assert p.envelope.from_ is not None
    assert p.body.body_end == len(raw)
    assert ParsedMessage.from_json(p.to_json()) == p


def test_multipart_without_boundary_reads_as_text() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhello\r\n"
    p = _parse(raw)
    assert (p.body.type, p.body.subtype, p.body.parts) == ("text", "plain", ())


def test_multipart_without_any_delimiter_gets_one_empty_part() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno delimiter here\r\n"
    p = _parse(raw)
    (only,) = p.body.parts
    assert (only.type, only.subtype, only.size) == ("text", "plain", 0)
    assert only.header_start == only.body_end == len(raw)
    assert section_bytes(raw, p, (1,), None) == b""


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = (
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n"
        b"--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d--\r\n"
    )
    p = _parse(raw)
    (part,) = p.body.parts
    assert (part.type, part.subtype) == ("message", "rfc822")
    assert part.message is not None and part.message[0].subject == b"one"


def test_encoded_message_rfc822_is_not_descended() -> None:
    raw = (
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"U3ViamVjdDogeA==\r\n"
    )
    p = _parse(raw)
    assert p.body.message is None
    assert section_bytes(raw, p, (1,), "HEADER") is None


def test_deep_nesting_is_bounded() -> None:
    depth = 3000
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = head + b"\r\nleaf\r\n"
    p = _parse(raw)
    node = p.body
    levels = 0
    while node.parts:
        node = node.parts[0]
        levels += 1
    assert 1 < levels <= 60
    assert ParsedMessage.from_json(p.to_json()) == p


def test_deep_rfc822_nesting_is_bounded() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"Subject: leaf\r\n\r\nx"
    p = _parse(raw)
    assert p.body.message is not None


def test_part_count_is_bounded() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + b"--p\r\n\r\nx\r\n" * (
        MAX_PARTS + 500
    )
    p = _parse(raw)
    assert len(p.body.parts) == MAX_PARTS


def test_boundary_prefix_of_other_text_is_not_a_delimiter() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
        b"--ab\r\n\r\none\r\n--abc not a delimiter\r\nx--ab\r\n"
        b"--ab  \r\n\r\ntwo\r\n--ab--junk\r\nepilogue"
    )
    p = _parse(raw)
    one, two = p.body.parts
    assert raw[one.header_end : one.body_end] == b"one\r\n--abc not a delimiter\r\nx--ab"
    assert raw[two.header_end : two.body_end] == b"two"


def test_adjacent_delimiters_give_an_empty_part() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n--q\r\n\r\nb\r\n--q--"
    p = _parse(raw)
    empty, b = p.body.parts
    assert empty.size == 0 and empty.header_start == empty.body_end
    assert raw[b.header_end : b.body_end] == b"b"


def test_garbage_content_type_defaults() -> None:
    raw = (
        b"Content-Type: ;;;=\r\nContent-Transfer-Encoding: (c)\r\n"
        b"Content-Disposition: ;x=y\r\n\r\nbody"
    )
    p = _parse(raw)
    assert (p.body.type, p.body.subtype) == ("text", "plain")
    assert p.body.encoding == "7BIT"
    assert p.body.disposition is None


def test_fallback_is_used_only_on_internal_errors() -> None:
    assert parse_message(b"Subject: x\r\n\r\ny").envelope.subject == b"x"


@pytest.mark.timeout(60)  # linear: a fraction of a second (bench/parse.py measures speed)
def test_ten_megabyte_attachment() -> None:
    blob = (b"QUJD" * 19 + b"\r\n") * 130_000
    raw = (
        b"Subject: big\r\nContent-Type: multipart/mixed; boundary=big\r\n\r\n"
        b"--big\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        b"--big\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"\r\n--big--\r\n"
    )
    p = _parse(raw)
    attachment = p.body.parts[1]
    assert attachment.size == len(blob)
    assert p.search.body == "see attachment"
