"""ENVELOPE and BODYSTRUCTURE fields of the hand-written corpus, checked exactly.

Offsets are hand-computed as positions of marker text in the CRLF form of each
file (`raw.index`), and for the simple cases also written out as numbers.
"""

from __future__ import annotations

import pytest

from postfach.message import BodyPart, ParsedMessage, param_value, parse_message

from .corpus import addr, load, names

US_ASCII = (("charset", "us-ascii"),)


def check_part(
    part: BodyPart,
    raw: bytes,
    body: bytes,
    type_: str,
    subtype: str,
    lines: int | None,
) -> None:
    """Type, body bytes, size, lines and offset consistency of one part."""
    assert (part.type, part.subtype) == (type_, subtype)
    assert raw[part.header_end : part.body_end] == body
    assert part.size == len(body)
    assert part.lines == lines
    assert 0 <= part.header_start <= part.header_end <= part.body_end <= len(raw)


def test_simple() -> None:
    raw = load("simple")
    p = parse_message(raw)
    assert len(raw) == 423
    assert p.header_end == raw.index(b"Hi Bob") == 378
    alice = (addr(b"Alice Example", b"alice", b"example.org"),)
    env = p.envelope
    assert env.date == b"Mon, 01 Jan 2024 10:00:00 +0100"
    assert env.subject == b"Lunch tomorrow?"
    assert env.from_ == env.sender == env.reply_to == alice
    assert env.to == (addr(b"Bob", b"bob", b"example.com"),)
    assert env.cc is None and env.bcc is None
    assert env.in_reply_to == b"<plan-0@example.com>"
    assert env.message_id == b"<lunch-1@example.org>"
    assert p.date == 1704099600.0
    b = p.body
    check_part(b, raw, raw[378:], "text", "plain", 5)
    assert (b.size, b.header_start, b.header_end, b.body_end) == (45, 0, 378, 423)
    assert b.params == US_ASCII and b.encoding == "7BIT" and b.parts == ()
    assert (b.id, b.description, b.md5, b.disposition, b.language, b.location) == (None,) * 6
    assert p.search.subject == "Lunch tomorrow?"
    assert p.search.from_ == '"Alice Example" <alice@example.org>'  # as Dovecot writes it
    assert "lunch tomorrow at noon?" in p.search.body


def test_alternative() -> None:
    raw = load("alternative")
    p = parse_message(raw)
    b = p.body
    assert (b.type, b.subtype, b.params) == ("multipart", "alternative", (("boundary", "alt-1"),))
    assert b.header_end == raw.index(b"This is a multi-part") == 191
    assert b.body_end == len(raw) == 660
    plain, html = b.parts
    qp = (
        b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus K=C3=B6ln, eine lange Zeile, die hier =\r\n"
        b"umgebrochen wird."
    )
    check_part(plain, raw, qp, "text", "plain", 2)
    assert plain.header_start == raw.index(b"Content-Type: text/plain") == 248
    assert plain.header_end == raw.index(b"Sch=C3") == 338
    assert plain.params == (("charset", "utf-8"),)
    assert plain.encoding == "QUOTED-PRINTABLE"
    start = raw.index(b"PGh0")
    check_part(html, raw, raw[start : raw.index(b"\r\n--alt-1--")], "text", "html", 2)
    assert html.encoding == "BASE64" and html.params == (("charset", "utf-8"),)
    assert p.search.body == (
        "Schöne Grüße aus Köln, eine lange Zeile, die hier umgebrochen wird.\nSchöne & gute Grüße"
    )
    assert p.date == 1704184200.0


def test_mixed_nested_with_attachments() -> None:
    raw = load("mixed-nested")
    p = parse_message(raw)
    env = p.envelope
    assert env.from_ == (addr(None, b"eve", b"example.org"),)
    assert env.to == (addr(None, b"frank", b"example.com"), addr(None, b"grace", b"example.com"))
    assert env.cc == (addr(b"Heidi H.", b"heidi", b"example.com"),)
    assert env.bcc == (addr(None, b"ivan", b"example.com"),)
    alt, pdf, png = p.body.parts
    inner_start = raw.index(b"--inner\r\n")
    check_part(
        alt,
        raw,
        raw[inner_start : raw.index(b"--inner--\r\n") + 11],
        "multipart",
        "alternative",
        None,
    )
    assert alt.header_start == raw.index(b"Content-Type: multipart/alternative") == 295
    text, html = alt.parts
    check_part(text, raw, b"See the attached report.", "text", "plain", 1)
    check_part(html, raw, b"<p>See the <b>attached</b> report.</p>", "text", "html", 1)
    assert text.params == html.params == US_ASCII
    check_part(pdf, raw, b"JVBERi0xLjQKJeLjz9MK", "application", "pdf", None)
    assert pdf.params == (("name", "report.pdf"),)
    assert pdf.encoding == "BASE64"
    assert pdf.disposition == ("attachment", (("filename", "report.pdf"), ("size", "12")))
    assert pdf.id == "<pdf-1@example.org>"
    assert pdf.description == "Quarterly report"
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert (pdf.header_start, pdf.header_end, pdf.body_end) == (513, 776, 796)
    check_part(png, raw, b"iVBORw0KGgo=", "image", "png", None)
    assert png.params == () and png.disposition == ("inline", ())
    assert p.search.body == "See the attached report.\nSee the attached report."


def test_message_rfc822_inside_multipart() -> None:
    raw = load("rfc822")
    p = parse_message(raw)
    note, fwd = p.body.parts
    check_part(note, raw, b"See below.", "text", "plain", 1)
    start = raw.index(b"From: Oscar")
    inner = raw[start : raw.index(b"\r\n--fwd--")]
    check_part(fwd, raw, inner, "message", "rfc822", 18)
    assert fwd.disposition == ("inline", ())
    assert fwd.message is not None
    env, body = fwd.message
    assert env.subject == b"Original"
    assert env.from_ == (addr(b"Oscar", b"oscar", b"example.net"),)
    assert env.to == (addr(b"Judy", b"judy", b"example.org"),)
    assert env.message_id == b"<orig@example.net>"
    assert env.date == b"Wed, 03 Jan 2024 18:00:00 +0000"
    assert body.header_start == fwd.header_end == start == 320
    assert body.header_end == raw.index(b"--in\r\n") == 539
    assert body.body_end == fwd.body_end == 652
    orig, csv = body.parts
    check_part(orig, raw, b"Original text.", "text", "plain", 1)
    check_part(csv, raw, b"a,b\r\n1,2", "text", "csv", 2)
    assert csv.params == (("name", "data.csv"), ("charset", "us-ascii"))
    assert p.search.body == "See below.\nOriginal text.\na,b\r\n1,2"


def test_rfc2231_language_disposition_location() -> None:
    raw = load("rfc2231")
    p = parse_message(raw)
    b = p.body
    assert b.params == (("boundary", "b2231"),)
    assert b.language == ("de-DE", "en")
    latin, blob, titled = b.parts
    check_part(latin, raw, b"Gr\xfc\xdfe", "text", "plain", 1)
    assert latin.params == (("charset", "iso-8859-1"),)
    assert latin.encoding == "8BIT" and latin.language == ("de",)
    check_part(blob, raw, b"ZGF0YQ==", "application", "octet-stream", None)
    assert blob.params == (("name*", "utf-8''%E2%82%AC%20rates.txt"),)
    assert param_value(blob.params, "name") == "€ rates.txt"
    assert blob.disposition == (
        "attachment",
        (
            ("filename*", "utf-8''%E2%82%AC%20very%20long%20name%20%C3%A4.txt"),
            ("creation-date", "Mon, 01 Jan 2024 10:00:00 +0100"),
        ),
    )
    assert param_value(blob.disposition[1], "filename") == "€ very long name ä.txt"
    assert blob.location == "http://example.org/rates.txt"
    check_part(titled, raw, b"two", "text", "plain", 1)
    assert titled.params == (("title", "Part two"), ("charset", "us-ascii"))
    assert titled.disposition == ("inline", (("filename", "plain.txt"),))
    assert p.search.body == "Grüße\ntwo"


def test_encoded_words_and_groups() -> None:
    raw = load("encoded-words")
    p = parse_message(raw)
    env = p.envelope
    assert env.from_ == (addr(b"=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=", b"joerg", b"example.de"),)
    assert env.sender == (addr(None, b"secretary", b"example.de"),)
    assert env.reply_to == (
        addr(b"=?ISO-8859-1?Q?Andr=E9?=", b"andre", b"example.fr"),
        addr(None, b"list", None),
        addr(None, None, None),
    )
    assert env.to == (addr(None, b"undisclosed-recipients", None), addr(None, None, None))
    assert env.cc == (
        addr(b"Q. Public", b"q", b"example.com"),
        addr(b"Rita R", b"r", b"example.com"),
    )
    assert env.subject == (
        b"=?UTF-8?Q?Caf=C3=A9?= =?UTF-8?Q?_und_Kuchen?= (=?ISO-8859-1?Q?s=FC=DF?=)"
    )
    assert p.search.subject == "Café und Kuchen (süß)"
    assert p.search.from_ == "Jörg Müller <joerg@example.de>"  # one encoded word: an atom
    assert p.date == 1704555900.0


def test_bare_lf() -> None:
    raw = load("lf-bare")
    assert b"\r" not in raw
    p = parse_message(raw)
    assert p.header_end == raw.index(b"--lf\n") == 82
    (part,) = p.body.parts
    check_part(part, raw, b"one\ntwo", "text", "plain", 2)
    assert (part.header_start, part.header_end, part.body_end) == (87, 113, 120)
    assert p.envelope.subject == b"bare LF"


def test_missing_blank_line() -> None:
    raw = load("no-blank-line")
    p = parse_message(raw)
    assert p.header_end == raw.index(b"This line") == 45
    assert p.envelope.subject == b"no separator"
    check_part(p.body, raw, b"This line starts the body.\r\nSecond line.\r\n", "text", "plain", 2)


def test_boundary_never_closed() -> None:
    raw = load("broken-boundary")
    p = parse_message(raw)
    first, second = p.body.parts
    check_part(first, raw, b"first", "text", "plain", 1)
    check_part(second, raw, b"second, and the message ends here\r\n", "text", "plain", 1)
    assert second.body_end == p.body.body_end == len(raw)


def test_8bit_junk_in_headers() -> None:
    raw = load("junk-8bit")
    p = parse_message(raw)
    env = p.envelope
    assert env.from_ == (addr(b"J\xfcrgen", b"j\xfc", b"example.org"),)
    assert env.subject == b"Gr\xc3\xbc\xc3\x9fe \xff\xfe junk"
    assert p.header_end == raw.index(b"body \xff")
    assert p.body.params == (("charset", "utf-8"),)
    assert p.search.from_ == "Jürgen <jü@example.org>"
    assert p.search.subject == "Grüße ÿþ junk"


def test_no_headers_at_all() -> None:
    raw = load("no-headers")
    p = parse_message(raw)
    assert p.header_end == 0
    env = p.envelope
    assert (env.date, env.subject, env.from_, env.to, env.message_id) == (None,) * 5
    check_part(p.body, raw, raw, "text", "plain", 2)
    assert p.body.params == US_ASCII
    assert p.date is None


@pytest.mark.parametrize("name", names())
def test_corpus_json_round_trip(name: str) -> None:
    parsed = parse_message(load(name))
    text = parsed.to_json()
    assert text.isascii()
    assert ParsedMessage.from_json(text) == parsed


def test_json_rejects_other_version() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        ParsedMessage.from_json("[2]")


def test_json_leaves_the_search_text_to_the_blob_row() -> None:
    """The stored form has no search text (the blob row keeps it folded); a document
    written with it, as before December 2026, still reads to the same message."""
    raw = b"From: a@example.org\r\nSubject: Hello\r\n\r\nA body worth searching.\r\n"
    parsed = parse_message(raw)
    assert parsed.search is not None and "worth searching" in parsed.search.body
    text = parsed.to_json()
    assert "worth" not in text
    assert ParsedMessage.from_json(text).search is None
    old = text[:-1] + ',["a@example.org","","","","Hello","A body worth searching."]]'
    assert ParsedMessage.from_json(old) == parsed
    with pytest.raises(ValueError, match="unsupported"):
        ParsedMessage.from_json(text[:-1] + ",[],[]]")
