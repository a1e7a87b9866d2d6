"""The POP3 command parser: one line of bytes in, a typed command out. Pure, no I/O.

RFC 1939 §3: a command is a case-insensitive keyword of three or four
characters, possibly followed by arguments separated by single spaces; RFC 2449
§4 allows arguments of up to 40 octets (PASS, as in most servers, takes the
rest of the line so that passwords may contain spaces). `parse` never raises:
anything that is not a valid command becomes `BadCommand(reason)`.

The line passed in has its CRLF (or bare LF) already removed by the server.
"""

from __future__ import annotations

from collections.abc import Callable

from postfach.pop3.commands import (
    Auth,
    BadCommand,
    Capa,
    Command,
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

__all__ = ["MAX_ARG", "MAX_NUMBER_DIGITS", "parse"]

# RFC 2449 §4: "each argument may be up to 40 characters long". Names and
# SASL initial responses get more room; real clients send long addresses.
MAX_ARG = 40
MAX_NAME = 255
MAX_SECRET = 1024
MAX_SASL = 4096
# Message numbers and TOP line counts: anything longer cannot be in range.
MAX_NUMBER_DIGITS = 9

_NO_ARGS = BadCommand("this command takes no arguments")
_BAD_NUMBER = BadCommand("invalid message number")
_BAD_LINES = BadCommand("invalid number of lines")


def _number(text: bytes, bad: BadCommand) -> int | BadCommand:
    """RFC 1939 msg: a decimal number; leading zeros are tolerated."""
    if not text or len(text) > MAX_NUMBER_DIGITS or not text.isdigit():
        return bad
    return int(text)


def _msg(text: bytes) -> int | BadCommand:
    value = _number(text, _BAD_NUMBER)
    if isinstance(value, int) and value == 0:
        return BadCommand("message numbers start at 1")
    return value


def _text(raw: bytes, limit: int, what: str) -> str | BadCommand:
    if not raw:
        return BadCommand(f"missing {what}")
    if len(raw) > limit:
        return BadCommand(f"{what} too long")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadCommand(f"{what} is not valid UTF-8")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return BadCommand(f"control characters in {what}")
    return text


def _bare(factory: Callable[[], Command]) -> Callable[[list[bytes], bytes], Command | BadCommand]:
    def parse_bare(args: list[bytes], rest: bytes) -> Command | BadCommand:
        return _NO_ARGS if args else factory()

    return parse_bare


def _optional_msg(
    factory: Callable[[int | None], Command],
) -> Callable[[list[bytes], bytes], Command | BadCommand]:
    def parse_optional(args: list[bytes], rest: bytes) -> Command | BadCommand:
        if not args:
            return factory(None)
        if len(args) > 1:
            return BadCommand("too many arguments")
        msg = _msg(args[0])
        return msg if isinstance(msg, BadCommand) else factory(msg)

    return parse_optional


def _one_msg(
    factory: Callable[[int], Command],
) -> Callable[[list[bytes], bytes], Command | BadCommand]:
    def parse_one(args: list[bytes], rest: bytes) -> Command | BadCommand:
        if len(args) != 1:
            return BadCommand("expected one message number")
        msg = _msg(args[0])
        return msg if isinstance(msg, BadCommand) else factory(msg)

    return parse_one


def _top(args: list[bytes], rest: bytes) -> Command | BadCommand:
    """RFC 1939 §7 TOP msg n: n is a non-negative number of body lines."""
    if len(args) != 2:
        return BadCommand("expected a message number and a number of lines")
    msg = _msg(args[0])
    if isinstance(msg, BadCommand):
        return msg
    lines = _number(args[1], _BAD_LINES)
    return lines if isinstance(lines, BadCommand) else Top(msg, lines)


def _user(args: list[bytes], rest: bytes) -> Command | BadCommand:
    if len(args) != 1:
        return BadCommand("expected one user name")
    name = _text(args[0], MAX_NAME, "user name")
    return name if isinstance(name, BadCommand) else User(name)


def _pass(args: list[bytes], rest: bytes) -> Command | BadCommand:
    secret = _text(rest, MAX_SECRET, "password")
    return secret if isinstance(secret, BadCommand) else Pass(secret)


def _auth(args: list[bytes], rest: bytes) -> Command | BadCommand:
    """RFC 5034 §4: AUTH mechanism [initial-response]; plain AUTH lists mechanisms."""
    if not args:
        return Auth(None, None)
    if len(args) > 2:
        return BadCommand("too many arguments")
    mechanism = args[0]
    if len(mechanism) > 20 or not all(_is_mech_char(b) for b in mechanism):
        return BadCommand("invalid mechanism name")
    initial: str | None = None
    if len(args) == 2:
        if len(args[1]) > MAX_SASL:
            return BadCommand("initial response too long")
        initial = args[1].decode("latin-1")
    return Auth(mechanism.decode("ascii").upper(), initial)


def _is_mech_char(octet: int) -> bool:
    # RFC 4422 §3.1: upper-case letters, digits, hyphen and underscore.
    return chr(octet).isascii() and (chr(octet).isalnum() or octet in b"-_")


_Parser = Callable[[list[bytes], bytes], Command | BadCommand]

_PARSERS: dict[bytes, _Parser] = {
    b"USER": _user,
    b"PASS": _pass,
    b"STAT": _bare(Stat),
    b"LIST": _optional_msg(ListMessages),
    b"RETR": _one_msg(Retr),
    b"DELE": _one_msg(Dele),
    b"NOOP": _bare(Noop),
    b"RSET": _bare(Rset),
    b"QUIT": _bare(Quit),
    b"TOP": _top,
    b"UIDL": _optional_msg(Uidl),
    b"CAPA": _bare(Capa),
    b"STLS": _bare(Stls),
    b"AUTH": _auth,
}

KEYWORDS = frozenset(_PARSERS)


def parse(line: bytes) -> Command | BadCommand:
    """Parses one command line (without its line end)."""
    keyword, _, rest = line.partition(b" ")
    parser = _PARSERS.get(keyword.upper())
    if parser is None:
        if not keyword:
            return BadCommand("empty command")
        return BadCommand("unknown command")
    if parser is _pass:
        return _pass([], rest)
    args = rest.split()
    if any(len(arg) > MAX_SASL for arg in args):
        return BadCommand("argument too long")
    return parser(args, rest)
