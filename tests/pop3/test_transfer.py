"""CRLF conversion, dot-stuffing and TOP's cut of a stored message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postfach.pop3.transfer import head_and_lines, stuff, to_crlf


def unstuff(wire: bytes) -> bytes:
    lines = wire.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def test_crlf_message_is_not_copied() -> None:
    data = b"Subject: x\r\n\r\nbody\r\n"
    assert to_crlf(data) is data
    assert stuff(data) is data


def test_bare_lf_becomes_crlf() -> None:
    assert to_crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"


def test_dot_stuffing() -> None:
    assert stuff(b".a\r\n.\r\nb\r\n..c\r\n") == b"..a\r\n..\r\nb\r\n...c\r\n"


def test_final_crlf_added() -> None:
    assert stuff(b"abc") == b"abc\r\n"
    assert stuff(b"") == b""


def test_top_cuts_after_header_and_lines() -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert head_and_lines(msg, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert head_and_lines(msg, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert head_and_lines(msg, 10) == msg
    assert head_and_lines(b"A: 1\r\n", 3) == b"A: 1\r\n"
    assert head_and_lines(b"\r\nbody\r\nmore\r\n", 1) == b"\r\nbody\r\n"


@given(st.binary(max_size=400))
def test_stuffing_round_trips(data: bytes) -> None:
    crlf = to_crlf(data)
    wire = stuff(crlf)
    assert b"\r\n.\r\n" not in b"\r\n" + wire
    expected = crlf if not crlf or crlf.endswith(b"\r\n") else crlf + b"\r\n"
    assert unstuff(wire) == expected


@given(st.lists(st.sampled_from([b"a", b".", b"..", b"\n", b"\r\n", b"\r", b"x.y"]), max_size=40))
def test_no_line_is_a_lone_dot(parts: list[bytes]) -> None:
    wire = stuff(to_crlf(b"".join(parts)))
    lines = wire.split(b"\r\n")
    assert b"." not in lines
