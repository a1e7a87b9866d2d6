"""ManageSieve's command grammar (RFC 5804 §4), without I/O.

A command is a line, and every literal the line announces at its end carries
on past it: `PUTSCRIPT "name" {42+}` CRLF, 42 octets, then the rest of the
command to the next CRLF. The connection (`server`) asks `literal_tail` of
each line whether a literal follows, reads it, and hands the whole command to
`parse` with each literal's CRLF and octets in place. The client's answer to a
SASL challenge is one string alone (§2.1), read the same way and parsed by
`parse_sasl_response`.

Strings are quoted (`"..."`, with `\\` and `\"` the only escapes) or literals;
both `{n+}` (the RFC's) and `{n}` are taken, and neither waits for the server
(ManageSieve has no continuation for literals). `parse` never raises: any
input that is no command becomes `BadCommand`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from postfach.managesieve.commands import (
    Authenticate,
    BadCommand,
    Capability,
    CheckScript,
    Command,
    DeleteScript,
    GetScript,
    HaveSpace,
    ListScripts,
    Logout,
    Noop,
    PutScript,
    RenameScript,
    SetActive,
    StartTls,
    Unauthenticate,
)

__all__ = ["MAX_NAME", "literal_tail", "parse", "parse_sasl_response", "script_name_problem"]

MAX_NAME = 128  # characters of a script name; RFC 5804 sets no limit, Dovecot takes 256 octets
MAX_NUMBER = 4294967295  # §4: number = 1*DIGIT, 0 to 4294967295
_LITERAL_TAIL = re.compile(rb"\{([0-9]{1,10})\+?\}\Z")
_SPACE, _QUOTE, _BRACE, _BACKSLASH = 0x20, 0x22, 0x7B, 0x5C
# Octets that end an atom; anything else below 0x21 or above 0x7E is refused in one.
_ATOM_STOP = frozenset(b' "{')


class _Syntax(Exception):
    """The command does not follow the grammar; the message goes to the client."""


@dataclass(frozen=True, slots=True)
class _Atom:
    text: str  # a command name or a number


_Item = _Atom | bytes  # bytes: a string (quoted or literal), unescaped


def literal_tail(line: bytes) -> int | None:
    """The size of the literal that `line` (without its CRLF) announces at its end."""
    match = _LITERAL_TAIL.search(line)
    return int(match.group(1)) if match else None


def parse(data: bytes) -> Command | BadCommand:
    """One whole command (its literals in place, no final CRLF) as a typed value."""
    try:
        items = _items(data)
        if not items or not isinstance(items[0], _Atom):
            raise _Syntax("expected a command name")
        build = _COMMANDS.get(items[0].text.upper())
        if build is None:
            raise _Syntax("unknown command")
        return build(items[1:])
    except _Syntax as exc:
        return BadCommand(str(exc))


def parse_sasl_response(data: bytes) -> bytes | BadCommand:
    """§2.1: the client's answer to a challenge is one string (quoted or literal)."""
    try:
        items = _items(data)
    except _Syntax as exc:
        return BadCommand(str(exc))
    if len(items) != 1 or isinstance(items[0], _Atom):
        return BadCommand("expected one string as the SASL response")
    return items[0]


def script_name_problem(name: str) -> str | None:
    """Why `name` cannot name a script (§1.6: no control characters, no line
    separators), or None when it can."""
    if not name:
        return "a script name cannot be empty"
    if len(name) > MAX_NAME:
        return f"a script name has at most {MAX_NAME} characters"
    for char in name:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or char in "\u2028\u2029":
            return "a script name cannot contain control characters"
    return None


# -- the tokens --------------------------------------------------------------------


def _items(data: bytes) -> list[_Item]:
    items: list[_Item] = []
    pos, end = 0, len(data)
    while True:
        while pos < end and data[pos] == _SPACE:
            pos += 1
        if pos >= end:
            return items
        first = data[pos]
        item: _Item
        if first == _QUOTE:
            item, pos = _quoted(data, pos + 1)
        elif first == _BRACE:
            item, pos = _literal(data, pos)
        else:
            item, pos = _atom(data, pos)
        items.append(item)
        if pos < end and data[pos] != _SPACE:
            raise _Syntax("expected a space between arguments")


def _quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    """The string after an opening quote, and the position after its closing one."""
    out = bytearray()
    end = len(data)
    while pos < end:
        octet = data[pos]
        if octet == _QUOTE:
            return bytes(out), pos + 1
        if octet == _BACKSLASH:
            if pos + 1 >= end or data[pos + 1] not in (_QUOTE, _BACKSLASH):
                raise _Syntax('only \\" and \\\\ may be escaped in a quoted string')
            octet = data[pos + 1]
            pos += 1
        elif octet in (0, 10, 13):
            raise _Syntax("a quoted string cannot contain NUL, CR or LF; use a literal")
        out.append(octet)
        pos += 1
    raise _Syntax("a quoted string is not closed")


def _literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """`{n+}` CRLF and n octets; the connection has put them in place."""
    close = data.find(b"}", pos)
    header = data[pos + 1 : close] if close > 0 else b""
    digits = header.removesuffix(b"+")
    if not digits.isdigit() or len(digits) > 10:
        raise _Syntax("a literal is {size+} at the end of a line")
    size = int(digits)
    start = close + 1
    if data[start : start + 2] == b"\r\n":
        start += 2
    elif data[start : start + 1] == b"\n":
        start += 1
    else:
        raise _Syntax("a literal's size must end its line")
    if start + size > len(data):
        raise _Syntax("the literal is shorter than its size")
    return data[start : start + size], start + size


def _atom(data: bytes, pos: int) -> tuple[_Atom, int]:
    start, end = pos, len(data)
    while pos < end and data[pos] not in _ATOM_STOP:
        if not 0x21 <= data[pos] <= 0x7E:
            raise _Syntax("unexpected character; strings are quoted or literals")
        pos += 1
    return _Atom(data[start:pos].decode("ascii")), pos


# -- the arguments -----------------------------------------------------------------


def _arity(args: list[_Item], least: int, most: int) -> None:
    if not least <= len(args) <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise _Syntax(f"expected {wanted} argument{'' if wanted == '1' else 's'}")


def _string(item: _Item) -> bytes:
    if isinstance(item, _Atom):
        raise _Syntax("expected a quoted string or a literal")
    return item


def _text(item: _Item, what: str) -> str:
    try:
        return _string(item).decode("utf-8")
    except UnicodeDecodeError:
        raise _Syntax(f"{what} must be UTF-8") from None


def _name(item: _Item, *, empty_ok: bool = False) -> str:
    name = _text(item, "a script name")
    if empty_ok and not name:
        return name
    problem = script_name_problem(name)
    if problem is not None:
        raise _Syntax(problem)
    return name


def _number(item: _Item) -> int:
    if not isinstance(item, _Atom) or not item.text.isdigit() or int(item.text) > MAX_NUMBER:
        raise _Syntax("expected a number")
    return int(item.text)


def _authenticate(args: list[_Item]) -> Command:
    _arity(args, 1, 2)
    mechanism = args[0].text if isinstance(args[0], _Atom) else _text(args[0], "a mechanism")
    return Authenticate(mechanism.upper(), _string(args[1]) if len(args) == 2 else None)


def _bare(command: Command) -> Callable[[list[_Item]], Command]:
    def build(args: list[_Item]) -> Command:
        _arity(args, 0, 0)
        return command

    return build


def _havespace(args: list[_Item]) -> Command:
    _arity(args, 2, 2)
    return HaveSpace(_name(args[0]), _number(args[1]))


def _putscript(args: list[_Item]) -> Command:
    _arity(args, 2, 2)
    return PutScript(_name(args[0]), _text(args[1], "a script"))


def _setactive(args: list[_Item]) -> Command:
    _arity(args, 1, 1)
    return SetActive(_name(args[0], empty_ok=True))


def _getscript(args: list[_Item]) -> Command:
    _arity(args, 1, 1)
    return GetScript(_name(args[0]))


def _deletescript(args: list[_Item]) -> Command:
    _arity(args, 1, 1)
    return DeleteScript(_name(args[0]))


def _renamescript(args: list[_Item]) -> Command:
    _arity(args, 2, 2)
    return RenameScript(_name(args[0]), _name(args[1]))


def _checkscript(args: list[_Item]) -> Command:
    _arity(args, 1, 1)
    return CheckScript(_text(args[0], "a script"))


def _noop(args: list[_Item]) -> Command:
    _arity(args, 0, 1)
    return Noop(_text(args[0], "a tag") if args else None)


_COMMANDS: dict[str, Callable[[list[_Item]], Command]] = {
    "AUTHENTICATE": _authenticate,
    "STARTTLS": _bare(StartTls()),
    "LOGOUT": _bare(Logout()),
    "CAPABILITY": _bare(Capability()),
    "HAVESPACE": _havespace,
    "PUTSCRIPT": _putscript,
    "LISTSCRIPTS": _bare(ListScripts()),
    "SETACTIVE": _setactive,
    "GETSCRIPT": _getscript,
    "DELETESCRIPT": _deletescript,
    "RENAMESCRIPT": _renamescript,
    "CHECKSCRIPT": _checkscript,
    "NOOP": _noop,
    "UNAUTHENTICATE": _bare(Unauthenticate()),
}
