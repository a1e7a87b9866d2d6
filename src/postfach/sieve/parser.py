"""Sieve's grammar (RFC 5228 §8.2) over the lexer's tokens, into a syntax tree
(sieve/tree.py). Nothing is checked here beyond the shape; see validator.py."""

from __future__ import annotations

from postfach.sieve.errors import SieveError
from postfach.sieve.lexer import Token, tokenize
from postfach.sieve.tree import Argument, Command, Number, StringList, Tag, Test

__all__ = ["MAX_NESTING", "parse"]

MAX_NESTING = 50  # blocks and tests within each other: deeper is refused, not recursed


def parse(text: str) -> list[Command]:
    return _Parser(tokenize(text)).script()


def _describe(token: Token) -> str:
    if token.kind == "eof":
        return "the end of the script"
    if token.kind == "string":
        return "a string"
    if token.kind == "number":
        return f"the number {token.value}"
    if token.kind == "tag":
        return f"the tag :{token.value}"
    if token.kind == "identifier":
        return f"{token.value!r}"
    return f"{token.kind!r}"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "eof":
            self.at += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise SieveError(token.line, token.column, f"expected {what}, found {_describe(token)}")
        return self.take()

    def script(self) -> list[Command]:
        commands = self.commands(0)
        token = self.peek()
        if token.kind != "eof":
            raise SieveError(token.line, token.column, f"unexpected {_describe(token)}")
        return commands

    def commands(self, depth: int) -> list[Command]:
        found: list[Command] = []
        while self.peek().kind == "identifier":
            found.append(self.command(depth))
        return found

    def command(self, depth: int) -> Command:
        name = self.take()
        arguments = self.arguments()
        tests = self.tests(0)  # tests nest on their own count, blocks on theirs
        token = self.peek()
        block: list[Command] | None = None
        if token.kind == "{":
            if depth >= MAX_NESTING:
                raise SieveError(token.line, token.column, "blocks are nested too deeply")
            self.take()
            block = self.commands(depth + 1)
            self.expect("}", "a command or '}'")
        elif token.kind != ";":
            raise SieveError(
                token.line, token.column, f"expected ';' or a block, found {_describe(token)}"
            )
        else:
            self.take()
        return Command(str(name.value), arguments, tests, block, name.line, name.column)

    def arguments(self) -> list[Argument]:
        found: list[Argument] = []
        while True:
            token = self.peek()
            if token.kind == "string":
                self.take()
                found.append(StringList((str(token.value),), False, token.line, token.column))
            elif token.kind == "[":
                found.append(self.string_list())
            elif token.kind == "number":
                self.take()
                assert isinstance(token.value, int)
                found.append(Number(token.value, token.line, token.column))
            elif token.kind == "tag":
                self.take()
                found.append(Tag(str(token.value), token.line, token.column))
            else:
                return found

    def string_list(self) -> StringList:
        opening = self.take()
        values = [str(self.expect("string", "a string").value)]
        while self.peek().kind == ",":
            self.take()
            values.append(str(self.expect("string", "a string").value))
        self.expect("]", "',' or ']'")
        return StringList(tuple(values), True, opening.line, opening.column)

    def tests(self, depth: int) -> list[Test]:
        token = self.peek()
        if token.kind == "identifier":
            return [self.test(depth)]
        if token.kind != "(":
            return []
        self.take()
        found = [self.test(depth)]
        while self.peek().kind == ",":
            self.take()
            found.append(self.test(depth))
        self.expect(")", "',' or ')'")
        return found

    def test(self, depth: int) -> Test:
        name = self.expect("identifier", "a test")
        if depth >= MAX_NESTING:
            raise SieveError(name.line, name.column, "tests are nested too deeply")
        arguments = self.arguments()
        tests = self.tests(depth + 1)
        return Test(str(name.value), arguments, tests, name.line, name.column)
