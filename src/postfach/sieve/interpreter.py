"""Runs a compiled script against one message (RFC 5228 §2.10): commands in
order, tests evaluated, actions collected; the implicit keep added at the end
unless an action cancelled it. Pure: what the message is, where it came from,
which folders exist and what time it is come in as values."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from postfach.sieve.actions import (
    Action,
    Discard,
    FileInto,
    Keep,
    Outcome,
    Redirect,
    Reject,
    Vacation,
    conflict,
)
from postfach.sieve.errors import SieveRuntimeError
from postfach.sieve.mailview import MailView, RunContext
from postfach.sieve.tests import Tests
from postfach.sieve.tree import Argument, Command, Number, Script, StringList
from postfach.sieve.validator import VARIABLE_NAME, valid_address
from postfach.sieve.variables import MAX_VALUE, apply_modifiers, expand

__all__ = ["MAX_ACTIONS", "RunContext", "run"]

MAX_ACTIONS = 32  # more is a runaway script: an error, and the message is kept
_FLAGS = ""  # imap4flags' internal variable (RFC 5232 §3)


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, script: Script, view: MailView, context: RunContext) -> None:
        self.script = script
        self.variables: dict[str, str] = {_FLAGS: ""}
        self.matches: list[str] = []
        self.actions: list[Action] = []
        self.implicit_keep = True
        now = context.now or datetime.datetime.now().astimezone()
        self.tests = Tests(self, view, context, now)

    # -- strings -----------------------------------------------------------------
    def text(self, argument: Argument | None) -> str:
        assert isinstance(argument, StringList)
        return self.expand(argument.values[0])

    def strings(self, argument: Argument | None) -> list[str]:
        assert isinstance(argument, StringList)
        return [self.expand(value) for value in argument.values]

    def expand(self, text: str) -> str:
        if "variables" not in self.script.requires:
            return text
        return expand(text, self.variables, self.matches)

    def set_matches(self, found: list[str] | None) -> None:
        if found is not None and "variables" in self.script.requires:
            self.matches = [value[:MAX_VALUE] for value in found]

    # -- flags (RFC 5232) ----------------------------------------------------------
    def flag_names(self, texts: Sequence[str]) -> list[str]:
        seen: dict[str, str] = {}
        for text in texts:
            for flag in text.split():
                seen.setdefault(flag.lower(), flag)
        return list(seen.values())

    def flags_of(self, command: Command) -> frozenset[str]:
        listed = command.tagged.get("flags")
        if listed is not None:
            return frozenset(self.flag_names(self.strings(listed)))
        return frozenset(self.flag_names([self.variables[_FLAGS]]))

    # -- running -------------------------------------------------------------------
    def block(self, commands: Sequence[Command]) -> None:
        done = False
        for command in commands:
            name = command.name
            if name in ("if", "elsif", "else"):
                if name == "if":
                    done = False
                if done:
                    continue
                if name == "else" or self.tests.test(command.tests[0]):
                    done = True
                    self.block(command.block or [])
                continue
            if name != "require":
                self.command(command)

    def act(self, command: Command, action: Action, cancels_keep: bool = True) -> None:
        why = conflict(self.actions, action)
        if why is not None:
            raise SieveRuntimeError(command.line, command.column, why)
        if len(self.actions) >= MAX_ACTIONS:
            raise SieveRuntimeError(command.line, command.column, "too many actions")
        self.actions.append(action)
        if cancels_keep:
            self.implicit_keep = False

    def command(self, command: Command) -> None:
        name = command.name
        tagged = command.tagged
        args = command.positional
        if name == "stop":
            raise _Stop
        if name == "keep":
            self.act(command, Keep(self.flags_of(command)))
        elif name == "discard":
            self.implicit_keep = False
            self.actions.append(Discard())
        elif name == "fileinto":
            mailbox = self.text(args[0])
            action = FileInto(mailbox, self.flags_of(command), "create" in tagged)
            self.act(command, action, cancels_keep="copy" not in tagged)
        elif name == "redirect":
            address = self.text(args[0]).strip()
            if not valid_address(address):
                raise SieveRuntimeError(
                    command.line, command.column, f"redirect to a bad address {address!r}"
                )
            self.act(command, Redirect(address), cancels_keep="copy" not in tagged)
        elif name in ("reject", "ereject"):
            self.act(command, Reject(self.text(args[0]), name == "ereject"))
        elif name == "vacation":
            self.act(command, self.vacation(command), cancels_keep=False)
        elif name == "set":
            value = apply_modifiers(self.text(args[1]), set(tagged))
            self.variables[self.text(args[0]).lower()] = value
        elif name in ("setflag", "addflag", "removeflag"):
            self.change_flags(command)

    def vacation(self, command: Command) -> Vacation:
        tagged = command.tagged
        days = tagged.get("days")
        addresses = tagged.get("addresses")
        return Vacation(
            reason=self.text(command.positional[0]),
            days=days.value if isinstance(days, Number) else 7,
            subject=self.text(tagged["subject"]) if "subject" in tagged else "",
            sender=self.text(tagged["from"]) if "from" in tagged else "",
            addresses=tuple(self.strings(addresses)) if addresses is not None else (),
            mime="mime" in tagged,
            handle=self.text(tagged["handle"]) if "handle" in tagged else "",
        )

    def change_flags(self, command: Command) -> None:
        args = command.positional
        variable = _FLAGS
        if len(args) == 2:
            variable = self.text(args[0]).lower()
            if not VARIABLE_NAME.match(variable):
                raise SieveRuntimeError(
                    command.line, command.column, f"bad variable name {variable!r}"
                )
        given = self.flag_names(self.strings(args[-1]))
        current = self.flag_names([self.variables.get(variable, "")])
        if command.name == "setflag":
            result = given
        elif command.name == "addflag":
            result = self.flag_names([*current, *given])
        else:
            drop = {flag.lower() for flag in given}
            result = [flag for flag in current if flag.lower() not in drop]
        self.variables[variable] = " ".join(result)[:MAX_VALUE]

    def outcome(self) -> Outcome:
        actions = list(self.actions)
        if self.implicit_keep:
            flags = frozenset(self.flag_names([self.variables[_FLAGS]]))
            actions.append(Keep(flags, implicit=True))
        return Outcome(actions)


def run(script: Script, view: MailView, context: RunContext) -> Outcome:
    """The actions the script takes on the message; SieveRuntimeError when it
    fails (the caller keeps the message then, RFC 5228 §2.10.6)."""
    state = _Run(script, view, context)
    try:
        state.block(script.commands)
    except _Stop:
        pass
    except RecursionError:
        raise SieveRuntimeError(1, 1, "the script nests too deeply to run") from None
    return state.outcome()
