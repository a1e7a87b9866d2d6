"""Checks a parsed script against the specs (sieve/specs.py) and the rules of
RFC 5228 and its extensions, and sorts each command's and test's arguments
into tags and positional ones for the interpreter. Every refusal names the
line and column of what is wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from postfach.sieve.encoded import decode_encoded
from postfach.sieve.errors import SieveError
from postfach.sieve.specs import (
    COMMANDS,
    COMPARATORS,
    DATE_PARTS,
    RELATIONAL_OPERATORS,
    SUPPORTED_EXTENSIONS,
    TAG_EXTENSIONS,
    TESTS,
    Spec,
)
from postfach.sieve.tree import Argument, Command, Number, Script, StringList, Tag, Test

__all__ = ["validate", "valid_address", "VARIABLE_NAME"]

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ZONE = re.compile(r"[+-](?:[01][0-9]|2[0-3])[0-5][0-9]\Z")
# addr-spec, loosely (RFC 5322 §3.4.1): a local part and a domain, no blanks.
_ADDRESS = re.compile(r'(?:[^\s@<>()\[\]\\,;:"]+|"[^"\\]*")@[^\s@<>()\[\]\\,;:"]+\Z')
_ENVELOPE_PARTS = frozenset({"from", "to"})


def valid_address(text: str) -> bool:
    return bool(_ADDRESS.match(text.strip()))


def validate(commands: list[Command]) -> Script:
    requires = _requires(commands)
    if "encoded-character" in requires:
        _decode_strings(commands)
    _Validator(requires).block(commands, top=True)
    return Script(frozenset(requires), tuple(commands))


def _decode_strings(nodes: Sequence[Command | Test]) -> None:
    """RFC 5228 §2.4.2.4: every string of the script decoded, before it is checked."""
    for node in nodes:
        for at, argument in enumerate(node.arguments):
            if isinstance(argument, StringList):
                try:
                    values = tuple(decode_encoded(value) for value in argument.values)
                except ValueError as exc:
                    raise _fail(argument, str(exc)) from None
                node.arguments[at] = replace(argument, values=values)
        _decode_strings(node.tests)
        if isinstance(node, Command) and node.block is not None:
            _decode_strings(node.block)


def _fail(node: Command | Test | Argument, message: str) -> SieveError:
    return SieveError(node.line, node.column, message)


def _requires(commands: list[Command]) -> set[str]:
    found: set[str] = set()
    seen_other = False
    for command in commands:
        if command.name != "require":
            seen_other = True
            continue
        if seen_other:
            raise _fail(command, "require must come before every other command")
        _sort(command, COMMANDS["require"], found, "command")
        names = command.positional[0]
        assert isinstance(names, StringList)
        for name in names.values:
            if name.lower() not in SUPPORTED_EXTENSIONS:
                raise _fail(names, f"unsupported extension {name!r}")
            found.add(name.lower())
    return found


class _Validator:
    def __init__(self, requires: set[str]) -> None:
        self.requires = requires

    def need(self, extension: str, node: Command | Test | Argument, what: str) -> None:
        if extension and extension not in self.requires:
            raise _fail(node, f'{what} needs require "{extension}"')

    def block(self, commands: Sequence[Command], top: bool = False) -> None:
        previous = ""
        for command in commands:
            if command.name == "require":
                if not top:
                    raise _fail(command, "require is allowed only at the start of the script")
                previous = "require"
                continue
            self.command(command, previous)
            previous = command.name

    def command(self, command: Command, previous: str) -> None:
        spec = COMMANDS.get(command.name)
        if spec is None:
            raise _fail(command, f"unknown command {command.name!r}")
        self.need(spec.extension, command, f"the command {command.name}")
        if command.name in ("elsif", "else") and previous not in ("if", "elsif"):
            raise _fail(command, f"{command.name} must follow if or elsif")
        if spec.block and command.block is None:
            raise _fail(command, f"{command.name} needs a block {{ ... }}")
        if not spec.block and command.block is not None:
            raise _fail(command, f"{command.name} takes no block; end it with ';'")
        _count_tests(command, spec)
        self.tags(command, _sort(command, spec, self.requires, "command"))
        for test in command.tests:
            self.test(test)
        if command.block is not None:
            self.block(command.block)
        check = getattr(self, "command_" + command.name, None)
        if check is not None:
            check(command)

    def test(self, test: Test) -> None:
        spec = TESTS.get(test.name)
        if spec is None:
            raise _fail(test, f"unknown test {test.name!r}")
        self.need(spec.extension, test, f"the test {test.name}")
        _count_tests(test, spec)
        self.tags(test, _sort(test, spec, self.requires, "test"))
        for inner in test.tests:
            self.test(inner)
        check = getattr(self, "test_" + test.name, None)
        if check is not None:
            check(test)

    # -- what every command and test with these tags must satisfy --------------
    def tags(self, node: Command | Test, tags: dict[str, Argument | None]) -> None:
        comparator = tags.get("comparator")
        name = "i;ascii-casemap"
        if isinstance(comparator, StringList):
            name = comparator.values[0].lower()
            if name not in COMPARATORS:
                raise _fail(comparator, f"unknown comparator {comparator.values[0]!r}")
            self.need(COMPARATORS[name], comparator, f"the comparator {name}")
        for relation in ("count", "value"):
            operator = tags.get(relation)
            if isinstance(operator, StringList) and operator.values[0] not in RELATIONAL_OPERATORS:
                raise _fail(operator, f"unknown relational operator {operator.values[0]!r}")
        if name == "i;ascii-numeric":
            for substring in ("contains", "matches"):
                if substring in tags:
                    raise _fail(node, f"the comparator i;ascii-numeric cannot do :{substring}")
        if "last" in tags and "index" not in tags:
            raise _fail(node, ":last needs :index")
        index = tags.get("index")
        if isinstance(index, Number) and index.value < 1:
            raise _fail(index, ":index counts from 1")
        zone = tags.get("zone")
        if isinstance(zone, StringList) and not self.dynamic(zone.values[0]):
            if not _ZONE.match(zone.values[0]):
                raise _fail(zone, f'bad time zone {zone.values[0]!r} (write "+hhmm" or "-hhmm")')

    def dynamic(self, text: str) -> bool:
        """Whether variables may change the string when it runs."""
        return "variables" in self.requires and "${" in text

    def date_part(self, argument: Argument) -> None:
        assert isinstance(argument, StringList)
        part = argument.values[0]
        if not self.dynamic(part) and part.lower() not in DATE_PARTS:
            raise _fail(argument, f"unknown date part {part!r}")

    # -- per command and test ----------------------------------------------------
    def command_redirect(self, command: Command) -> None:
        target = command.positional[0]
        assert isinstance(target, StringList)
        if not self.dynamic(target.values[0]) and not valid_address(target.values[0]):
            raise _fail(target, f"redirect needs a mail address, not {target.values[0]!r}")

    def command_vacation(self, command: Command) -> None:
        sender = command.tagged.get("from")
        if isinstance(sender, StringList) and not self.dynamic(sender.values[0]):
            if not valid_address(_angle_address(sender.values[0])):
                raise _fail(sender, f":from needs a mail address, not {sender.values[0]!r}")

    def command_set(self, command: Command) -> None:
        self.variable_names(command.positional[0])

    def command_setflag(self, command: Command) -> None:
        if len(command.positional) == 2:
            self.variable_names(command.positional[0])

    command_addflag = command_removeflag = command_setflag

    def test_hasflag(self, test: Test) -> None:
        if len(test.positional) == 2:
            self.need("variables", test.positional[0], "a variable list")
            self.variable_names(test.positional[0])

    def test_string(self, test: Test) -> None:
        pass  # any strings: the source is expanded, the keys are patterns

    def test_envelope(self, test: Test) -> None:
        parts = test.positional[0]
        assert isinstance(parts, StringList)
        for part in parts.values:
            if not self.dynamic(part) and part.lower() not in _ENVELOPE_PARTS:
                raise _fail(parts, f"unknown envelope part {part!r}")

    def test_date(self, test: Test) -> None:
        self.date_part(test.positional[1])

    def test_currentdate(self, test: Test) -> None:
        self.date_part(test.positional[0])

    def variable_names(self, argument: Argument) -> None:
        assert isinstance(argument, StringList)
        for name in argument.values:
            if "." in name:
                raise _fail(argument, f"unknown variable namespace in {name!r}")
            if not VARIABLE_NAME.match(name):
                raise _fail(argument, f"bad variable name {name!r}")


def _angle_address(text: str) -> str:
    """The address of "Name <a@b>" or of "a@b"."""
    if text.rstrip().endswith(">") and "<" in text:
        return text[text.rindex("<") + 1 : text.rstrip().rindex(">")]
    return text


def _count_tests(node: Command | Test, spec: Spec) -> None:
    count = len(node.tests)
    if spec.tests == "none" and count:
        raise _fail(node.tests[0], f"{node.name} takes no test")
    if spec.tests == "one" and count != 1:
        where = node.tests[1] if count > 1 else node
        raise _fail(where, f"{node.name} takes exactly one test")
    if spec.tests == "many" and not count:
        raise _fail(node, f"{node.name} needs a list of tests in ( ... )")


def _sort(
    node: Command | Test, spec: Spec, requires: set[str], what: str
) -> dict[str, Argument | None]:
    """Fills node.tagged and node.positional from its arguments, checking tags,
    their values, exclusive groups and the positional arguments' kinds and count."""
    tagged: dict[str, Argument | None] = {}
    positional: list[Argument] = []
    arguments = node.arguments
    at = 0
    while at < len(arguments):
        argument = arguments[at]
        at += 1
        if not isinstance(argument, Tag):
            positional.append(argument)
            continue
        if argument.name not in spec.tags:
            raise _fail(argument, f"{what} {node.name} takes no :{argument.name}")
        extension = TAG_EXTENSIONS.get(argument.name, "")
        if extension and extension not in requires:
            raise _fail(argument, f':{argument.name} needs require "{extension}"')
        if argument.name in tagged:
            raise _fail(argument, f":{argument.name} is given twice")
        for group in spec.exclusive:
            if argument.name in group and group & tagged.keys():
                other = sorted(group & tagged.keys())[0]
                raise _fail(argument, f":{argument.name} cannot go with :{other}")
        kind = spec.tags[argument.name]
        value: Argument | None = None
        if kind is not None:
            if at >= len(arguments) or not _is_kind(arguments[at], kind):
                raise _fail(argument, f":{argument.name} needs {_kind_name(kind)} after it")
            value = arguments[at]
            at += 1
        tagged[argument.name] = value
    if spec.one_of and not spec.one_of & tagged.keys():
        names = " or ".join(":" + name for name in sorted(spec.one_of))
        raise _fail(node, f"{node.name} needs {names}")
    kinds = spec.positional
    if spec.optional_first and len(positional) < len(kinds):
        kinds = kinds[spec.optional_first :]
    if len(positional) != len(kinds):
        where: Command | Test | Argument = (
            positional[len(kinds)] if len(positional) > len(kinds) else node
        )
        raise _fail(
            where, f"{node.name} takes {_count(len(kinds))}, not {len(positional)}"
        )
    for argument, kind in zip(positional, kinds, strict=True):
        if not _is_kind(argument, kind):
            raise _fail(argument, f"{node.name} needs {_kind_name(kind)} here")
    node.tagged = tagged
    node.positional = positional
    return tagged


def _is_kind(argument: Argument, kind: str) -> bool:
    if kind == "number":
        return isinstance(argument, Number)
    if kind == "string":
        return isinstance(argument, StringList) and not argument.is_list
    return isinstance(argument, StringList)


def _kind_name(kind: str) -> str:
    return {"number": "a number", "string": "a string"}.get(kind, "a string list")


def _count(n: int) -> str:
    return "no positional argument" if n == 0 else f"{n} positional argument" + "s" * (n > 1)
