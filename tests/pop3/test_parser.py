"""The POP3 parser: every command, its arguments, and arbitrary bytes (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.pop3.commands import (
    Auth,
    BadCommand,
    Capa,
    Dele,
    ListMessages,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
)
from postfach.pop3.parser import KEYWORDS, parse


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"USER alice@example.org", User("alice@example.org")),
        (b"user alice", User("alice")),
        (b"PASS secret", Pass("secret")),
        (b"PASS with spaces  inside ", Pass("with spaces  inside ")),
        (b"STAT", Stat()),
        (b"stat", Stat()),
        (b"LIST", ListMessages(None)),
        (b"LIST 3", ListMessages(3)),
        (b"LIST 007", ListMessages(7)),
        (b"RETR 1", Retr(1)),
        (b"DELE 12", Dele(12)),
        (b"NOOP", Noop()),
        (b"RSET", Rset()),
        (b"QUIT", Quit()),
        (b"TOP 1 0", Top(1, 0)),
        (b"TOP 2 10", Top(2, 10)),
        (b"UIDL", Uidl(None)),
        (b"UIDL 5", Uidl(5)),
        (b"CAPA", Capa()),
        (b"STLS", Stls()),
        (b"AUTH", Auth(None, None)),
        (b"AUTH plain", Auth("PLAIN", None)),
        (b"AUTH PLAIN AGEAYg==", Auth("PLAIN", "AGEAYg==")),
        (b"AUTH LOGIN =", Auth("LOGIN", "=")),
        (b"RETR 1 ", Retr(1)),  # a trailing space is tolerated
    ],
)
def test_valid_commands(line: bytes, command: object) -> None:
    assert parse(line) == command


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty command"),
        (b"FOO", "unknown command"),
        (b"APOP a b", "unknown command"),
        (b"STAT 1", "this command takes no arguments"),
        (b"RETR", "expected one message number"),
        (b"RETR 1 2", "expected one message number"),
        (b"RETR x", "invalid message number"),
        (b"RETR -1", "invalid message number"),
        (b"RETR 0", "message numbers start at 1"),
        (b"RETR 1234567890", "invalid message number"),
        (b"LIST 1 2", "too many arguments"),
        (b"TOP 1", "expected a message number and a number of lines"),
        (b"TOP 1 x", "invalid number of lines"),
        (b"TOP 1 -2", "invalid number of lines"),
        (b"USER", "expected one user name"),
        (b"USER a b", "expected one user name"),
        (b"USER \xff", "user name is not valid UTF-8"),
        (b"PASS", "missing password"),
        (b"PASS ", "missing password"),
        (b"PASS a\x00b", "control characters in password"),
        (b"AUTH PL/AIN", "invalid mechanism name"),
        (b"AUTH PLAIN a b", "too many arguments"),
    ],
)
def test_bad_commands(line: bytes, reason: str) -> None:
    assert parse(line) == BadCommand(reason)


def test_pass_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(parse(b"PASS hunter2"))
    assert "AGEAYg" not in repr(parse(b"AUTH PLAIN AGEAYg=="))


def test_overlong_arguments() -> None:
    assert parse(b"USER " + b"a" * 300) == BadCommand("user name too long")
    assert parse(b"PASS " + b"a" * 2000) == BadCommand("password too long")
    assert parse(b"AUTH PLAIN " + b"A" * 5000) == BadCommand("argument too long")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(line: bytes) -> None:
    result = parse(line)
    if isinstance(result, BadCommand):
        assert result.reason and result.reason.isprintable()


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(KEYWORDS)),
    st.lists(st.binary(max_size=50), max_size=4),
)
def test_keyword_with_arbitrary_arguments(keyword: bytes, args: list[bytes]) -> None:
    line = b" ".join([keyword, *args])
    parse(line)
    parse(line.lower())


@given(st.integers(min_value=1, max_value=999_999_999), st.integers(min_value=0, max_value=10**6))
def test_numbers_round_trip(msg: int, lines: int) -> None:
    assert parse(b"RETR %d" % msg) == Retr(msg)
    assert parse(b"TOP %d %d" % (msg, lines)) == Top(msg, lines)
