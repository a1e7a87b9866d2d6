"""Quoted-printable decoding (RFC 2045 §6.7) and the literal8 APPEND converter
(RFC 3516 §4.4): properties over arbitrary input, and Dovecot's answers."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.message import decode_part_body, find_part, parse_message
from postfach.message.binary import base64_binary_parts
from postfach.message.decode import InvalidEncoding, decode_quoted_printable


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"soft break = \t\r\nstill   \r\n", b"soft break still\r\n"),
        (b"a=3db=3D\r\nx=\r\n", b"a=b=\r\nx"),
        (b"lf only = \nnext\nlast", b"lf only next\r\nlast"),
        (b"= \r\n", b""),
        (b"8bit \xc3\xa9\r\n", b"8bit \xc3\xa9\r\n"),
    ],
)
def test_quoted_printable_as_dovecot_decodes(encoded: bytes, decoded: bytes) -> None:
    assert decode_quoted_printable(encoded, strict=True) == decoded


@pytest.mark.parametrize("invalid", [b"=XY\r\n", b"a=\tb\r\n", b"cr\ronly\r\n", b"==\r\n"])
def test_invalid_quoted_printable_is_kept_or_refused(invalid: bytes) -> None:
    with pytest.raises(InvalidEncoding):
        decode_quoted_printable(invalid, strict=True)
    assert b"=" in decode_quoted_printable(invalid) or b"\r" in decode_quoted_printable(invalid)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_quoted_printable_round_trip_and_never_crashes(data: bytes) -> None:
    encoded = binascii.b2a_qp(data, istext=False)
    assert decode_quoted_printable(encoded, strict=True) == data
    try:
        decode_quoted_printable(data, strict=True)
    except InvalidEncoding:
        pass
    decode_quoted_printable(data)


def _with_binary_part(content: bytes) -> bytes:
    return (
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain\r\n\r\nhi\r\n--XX\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n" + content + b"\r\n--XX--\r\n"
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400).filter(lambda b: b"--XX" not in b))
def test_binary_parts_become_base64_and_decode_back(content: bytes) -> None:
    stored = base64_binary_parts(_with_binary_part(content))
    assert b"\0" not in stored
    parsed = parse_message(stored)
    part = find_part(parsed, (2,))
    assert part is not None and part.encoding == "BASE64"
    assert decode_part_body(stored, part) == content
    assert all(len(line) <= 76 for line in stored.split(b"\r\n"))


def test_binary_converter_matches_dovecot() -> None:
    assert base64_binary_parts(_with_binary_part(b"ab\0cd")).endswith(
        b"Content-Transfer-Encoding: base64\r\n\r\nYWIAY2Q=\r\n--XX--\r\n"
    )
    single = b"Subject: x\r\nContent-Transfer-Encoding: BINARY\r\n\r\nnul\0here\r\n"
    assert base64_binary_parts(single) == (
        b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nbnVsAGhlcmUNCg=="
    )
    plain = b"Subject: x\r\n\r\nnul\0here\r\n"  # no binary part: stored as it came
    assert base64_binary_parts(plain) == plain
