"""What the spam rules read of a message (spam/content.py) is what Python's email
package reads: a message without parts skips the package's line-by-line reading
of its body, and must come out the same as the full parse."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.message.corpus import load, names

from postfach.spam.content import SCAN_LIMIT, Content, content_of, parse_content


def full_parse(raw: bytes) -> Content:
    """parse_content as it was: the email package over the whole message."""
    return content_of(email.message_from_bytes(raw[:SCAN_LIMIT], policy=email.policy.compat32))


LINE_ENDS = [b"\r\n", b"\n", b"\r", b""]
HEADER_BITS = [
    b"From: a@example.org", b"From sender Mon Jan  1", b"Subject: =?utf-8?q?caf=C3=A9?=",
    b"Content-Type: text/html; charset=utf-8", b"Content-Type: text/plain; charset=latin-1",
    b"Content-Type: multipart/mixed; boundary=b", b"Content-Type: message/rfc822",
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename*=utf-8''n%C3%A4me.pdf", b" folded",
    b"\tfolded", b"no colon here", b":", b"X-\xff: \xfe", b"",
]
BODY_BITS = [
    b"<a href='http://x.example'>click</a>", b"plain words", b"PGI+Ym9sZDwvYj4=",
    b"caf=C3=A9=\r\n", b"--b", b"--b--", b"\xc3\xa4\xff", b"",
]


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    ends = st.sampled_from(LINE_ENDS)
    lines = draw(st.lists(st.tuples(st.sampled_from(HEADER_BITS), ends), max_size=8))
    body = draw(st.lists(st.tuples(st.sampled_from(BODY_BITS), ends), max_size=8))
    return b"".join(a + b for a, b in lines + body)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages() | st.binary(max_size=300))
def test_a_message_reads_as_the_email_package_reads_it(raw: bytes) -> None:
    assert parse_content(raw) == full_parse(raw)


def test_a_long_plain_message_reads_the_same() -> None:
    raw = (
        b"From: Someone <s@example.org>\r\nSubject: offer\r\nContent-Type: text/html\r\n\r\n"
        + b"<p>Buy <a href='http://spam.example/x'>now</a></p>\r\n" * 6000
    )
    assert len(raw) > SCAN_LIMIT
    got = parse_content(raw)
    assert got == full_parse(raw) and len(got.links) == 1000


@pytest.mark.parametrize("name", names())
def test_the_corpus_reads_the_same(name: str) -> None:
    raw = load(name)
    assert parse_content(raw) == full_parse(raw)
