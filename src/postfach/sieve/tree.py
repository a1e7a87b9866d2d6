"""The syntax tree the parser builds and the validator checks: commands, tests
and their arguments, each with where it stands in the script."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Argument", "Command", "Number", "Script", "StringList", "Tag", "Test"]


@dataclass(frozen=True, slots=True)
class StringList:
    """A string list; `is_list` tells ["a"] (a list) from "a" (a single string)."""

    values: tuple[str, ...]
    is_list: bool
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Number:
    value: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Tag:
    name: str  # lower-case, without the colon
    line: int
    column: int


Argument = StringList | Number | Tag


@dataclass(slots=True)
class Test:
    """A test as written; `tagged` and `positional` are filled in by the
    validator (tag name to its value or None, then the other arguments)."""

    name: str
    arguments: list[Argument]
    tests: list[Test]
    line: int
    column: int
    tagged: dict[str, Argument | None] = field(default_factory=dict)
    positional: list[Argument] = field(default_factory=list)


@dataclass(slots=True)
class Command:
    """A command; `test` for if/elsif, `block` for if/elsif/else."""

    name: str
    arguments: list[Argument]
    tests: list[Test]
    block: list[Command] | None
    line: int
    column: int
    tagged: dict[str, Argument | None] = field(default_factory=dict)
    positional: list[Argument] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Script:
    """A compiled script: the extensions it requires and its commands, checked."""

    requires: frozenset[str]
    commands: tuple[Command, ...]
