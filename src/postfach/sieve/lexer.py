"""Sieve's lexical grammar (RFC 5228 §8.1): identifiers, tags, numbers, quoted
and multi-line strings, comments, and the punctuation between them.

Line endings are normalised to LF before lexing; strings keep LF for a line end.
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.sieve.errors import SieveError

__all__ = ["MAX_NUMBER", "Token", "tokenize"]

MAX_NUMBER = 2**63 - 1  # numbers beyond this are an error, not an overflow later
_QUANTIFIERS = {"K": 2**10, "M": 2**20, "G": 2**30}
_PUNCTUATION = frozenset("[](),;{}")
_IDENT_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_IDENT_REST = _IDENT_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_UNENDED_TEXT = 'the text: string is never ended (a line with a lone ".")'


@dataclass(frozen=True, slots=True)
class Token:
    """kind: "identifier", "tag" (value without the colon), "number", "string",
    "eof" or the punctuation character itself."""

    kind: str
    value: str | int
    line: int
    column: int
    multiline: bool = False  # a text: string (no escapes inside)


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    @property
    def column(self) -> int:
        return self.pos - self.line_start + 1

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.text[at] if at < len(self.text) else ""

    def advance(self) -> str:
        char = self.text[self.pos]
        self.pos += 1
        if char == "\n":
            self.line += 1
            self.line_start = self.pos
        return char

    def fail(self, message: str, line: int | None = None, column: int | None = None) -> SieveError:
        return SieveError(line or self.line, column or self.column, message)


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an "eof" token; SieveError on bad input."""
    cursor = _Cursor(text.replace("\r\n", "\n").replace("\r", "\n"))
    tokens: list[Token] = []
    while True:
        _skip_blank(cursor)
        line, column = cursor.line, cursor.column
        char = cursor.peek()
        if not char:
            tokens.append(Token("eof", "", line, column))
            return tokens
        if char in _PUNCTUATION:
            cursor.advance()
            tokens.append(Token(char, char, line, column))
        elif char == '"':
            tokens.append(Token("string", _quoted(cursor), line, column))
        elif char == ":":
            cursor.advance()
            if cursor.peek() not in _IDENT_START or not cursor.peek():
                raise cursor.fail("a tag needs a name after the colon", line, column)
            tokens.append(Token("tag", _identifier(cursor).lower(), line, column))
        elif char in _DIGITS:
            tokens.append(Token("number", _number(cursor, line, column), line, column))
        elif char in _IDENT_START:
            name = _identifier(cursor)
            if name.lower() == "text" and cursor.peek() == ":":
                cursor.advance()
                tokens.append(Token("string", _multiline(cursor, line, column), line, column, True))
            else:
                tokens.append(Token("identifier", name.lower(), line, column))
        else:
            raise cursor.fail(f"unexpected character {char!r}")


def _skip_blank(cursor: _Cursor) -> None:
    while True:
        char = cursor.peek()
        if char in (" ", "\t", "\n"):
            cursor.advance()
        elif char == "#":
            while cursor.peek() not in ("", "\n"):
                cursor.advance()
        elif char == "/" and cursor.peek(1) == "*":
            line, column = cursor.line, cursor.column
            cursor.advance()
            cursor.advance()
            while not (cursor.peek() == "*" and cursor.peek(1) == "/"):
                if not cursor.peek():
                    raise cursor.fail("the comment is never closed (*/)", line, column)
                cursor.advance()
            cursor.advance()
            cursor.advance()
        else:
            return


def _identifier(cursor: _Cursor) -> str:
    start = cursor.pos
    while cursor.peek() and cursor.peek() in _IDENT_REST:
        cursor.advance()
    return cursor.text[start : cursor.pos]


def _number(cursor: _Cursor, line: int, column: int) -> int:
    start = cursor.pos
    while cursor.peek() and cursor.peek() in _DIGITS:
        cursor.advance()
    if cursor.pos - start > 19:
        raise cursor.fail("the number is too large", line, column)
    value = int(cursor.text[start : cursor.pos])
    quantifier = cursor.peek().upper()
    if quantifier and quantifier in _QUANTIFIERS:
        cursor.advance()
        value *= _QUANTIFIERS[quantifier]
    if value > MAX_NUMBER:
        raise cursor.fail("the number is too large", line, column)
    return value


def _quoted(cursor: _Cursor) -> str:
    line, column = cursor.line, cursor.column
    cursor.advance()
    parts: list[str] = []
    while True:
        char = cursor.peek()
        if not char:
            raise cursor.fail("the string is never closed (\")", line, column)
        cursor.advance()
        if char == '"':
            return "".join(parts)
        if char == "\\":
            if not cursor.peek():
                raise cursor.fail("the string is never closed (\")", line, column)
            char = cursor.advance()  # \" and \\ as the character; any other: as if unescaped
        parts.append(char)


def _multiline(cursor: _Cursor, line: int, column: int) -> str:
    """After "text:": blanks and a hash comment may end the line; then lines up
    to one that is a lone ".", with a leading ".." standing for "."."""
    while cursor.peek() in (" ", "\t"):
        cursor.advance()
    if cursor.peek() == "#":
        while cursor.peek() not in ("", "\n"):
            cursor.advance()
    if cursor.peek() != "\n":
        raise cursor.fail("text: must end its line", cursor.line, cursor.column)
    cursor.advance()
    lines: list[str] = []
    while True:
        if not cursor.peek():
            raise cursor.fail(_UNENDED_TEXT, line, column)
        start = cursor.pos
        while cursor.peek() not in ("", "\n"):
            cursor.advance()
        content = cursor.text[start : cursor.pos]
        if cursor.peek() == "\n":
            cursor.advance()
        elif content != ".":
            raise cursor.fail(_UNENDED_TEXT, line, column)
        if content == ".":
            return "".join(lines)
        lines.append((content[1:] if content.startswith("..") else content) + "\n")
