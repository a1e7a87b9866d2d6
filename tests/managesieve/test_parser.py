"""The ManageSieve grammar without a socket (RFC 5804 §4): strings, literals,
every command's arguments, and arbitrary input, which never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postfach.managesieve.commands import (
    Authenticate,
    BadCommand,
    CheckScript,
    Command,
    DeleteScript,
    HaveSpace,
    ListScripts,
    Noop,
    PutScript,
    RenameScript,
    SetActive,
    StartTls,
)
from postfach.managesieve.parser import (
    MAX_NAME,
    literal_tail,
    parse,
    parse_sasl_response,
    script_name_problem,
)


@pytest.mark.parametrize(
    ("data", "command"),
    [
        (b"LISTSCRIPTS", ListScripts()),
        (b"starttls", StartTls()),
        (b'AUTHENTICATE "PLAIN"', Authenticate("PLAIN", None)),
        (b'Authenticate "plain" "AGEAYg=="', Authenticate("PLAIN", b"AGEAYg==")),
        (b"AUTHENTICATE PLAIN {8+}\r\nAGEAYg==", Authenticate("PLAIN", b"AGEAYg==")),
        (b'HAVESPACE "x" 12', HaveSpace("x", 12)),
        (b'PUTSCRIPT "a b" {5+}\r\nkeep;', PutScript("a b", "keep;")),
        (b'PUTSCRIPT {3}\r\nabc "keep;"', PutScript("abc", "keep;")),
        (b'PUTSCRIPT "q\\"\\\\" "stop;"', PutScript('q"\\', "stop;")),
        (b'SETACTIVE ""', SetActive("")),
        (b'DELETESCRIPT "\xc3\xbcber"', DeleteScript("über")),
        (b'RENAMESCRIPT  "a"   "b"', RenameScript("a", "b")),
        (b"CHECKSCRIPT {0+}\r\n", CheckScript("")),
        (b"NOOP", Noop(None)),
        (b'NOOP "STARTTLS-SYNC-42"', Noop("STARTTLS-SYNC-42")),
    ],
)
def test_commands(data: bytes, command: Command) -> None:
    assert parse(data) == command


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "expected a command name"),
        (b'"LISTSCRIPTS"', "expected a command name"),
        (b"FROB", "unknown command"),
        (b"LISTSCRIPTS now", "expected 0 arguments"),
        (b"GETSCRIPT", "expected 1 argument"),
        (b"GETSCRIPT name", "expected a quoted string or a literal"),
        (b'GETSCRIPT "open', "a quoted string is not closed"),
        (b'GETSCRIPT "a\\b"', 'only \\" and \\\\ may be escaped in a quoted string'),
        (b'GETSCRIPT "a""b"', "expected a space between arguments"),
        (b'HAVESPACE "x" -1', "expected a number"),
        (b'HAVESPACE "x" 99999999999', "expected a number"),
        (b'GETSCRIPT ""', "a script name cannot be empty"),
        (b'GETSCRIPT "a\x01"', "a script name cannot contain control characters"),
        (b'GETSCRIPT "\xc2\x85"', "a script name cannot contain control characters"),
        (b'GETSCRIPT "\xff"', "a script name must be UTF-8"),
        (b"GETSCRIPT {5+}\r\nab", "the literal is shorter than its size"),
        (b"GETSCRIPT {x+}\r\nab", "a literal is {size+} at the end of a line"),
        (b"GETSCRIPT {2+} \r\nab", "a literal's size must end its line"),
        (b"NOOP \xff", "unexpected character; strings are quoted or literals"),
    ],
)
def test_bad_commands(data: bytes, reason: str) -> None:
    assert parse(data) == BadCommand(reason)


def test_long_names_are_refused() -> None:
    assert script_name_problem("x" * MAX_NAME) is None
    assert script_name_problem("x" * (MAX_NAME + 1)) is not None
    assert script_name_problem("a\u2028b") is not None


def test_literal_tail() -> None:
    assert literal_tail(b'PUTSCRIPT "x" {12+}') == 12
    assert literal_tail(b"CHECKSCRIPT {0}") == 0
    assert literal_tail(b'PUTSCRIPT "x" "{12+}"') is None
    assert literal_tail(b"NOOP") is None


def test_sasl_responses() -> None:
    assert parse_sasl_response(b'"*"') == b"*"
    assert parse_sasl_response(b'""') == b""
    assert parse_sasl_response(b"{4+}\r\nAGE=") == b"AGE="
    assert isinstance(parse_sasl_response(b"AGE="), BadCommand)
    assert isinstance(parse_sasl_response(b'"a" "b"'), BadCommand)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = parse(data)
    assert isinstance(result, BadCommand) or type(result).__module__.endswith("commands")
    response = parse_sasl_response(data)
    assert isinstance(response, bytes | BadCommand)


WORDS = st.sampled_from(
    [b"PUTSCRIPT", b"GETSCRIPT", b"HAVESPACE", b"NOOP", b"RENAMESCRIPT", b"AUTHENTICATE",
     b"SETACTIVE", b'"', b"{", b"}", b"+", b"\\", b" ", b"\r\n", b"12", b'"name"', b"{3+}\r\n"]
)  # fmt: skip


@given(st.lists(WORDS | st.binary(max_size=8), max_size=12))
def test_arbitrary_commands_of_grammar_pieces_never_raise(pieces: list[bytes]) -> None:
    result = parse(b"".join(pieces))
    if isinstance(result, BadCommand):
        assert result.reason and "\r" not in result.reason
