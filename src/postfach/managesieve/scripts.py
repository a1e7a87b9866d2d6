"""The script commands of the authenticated state (RFC 5804 §2.5-2.12):
HAVESPACE, PUTSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT,
RENAMESCRIPT and CHECKSCRIPT, on the store's `sieve` role.

A script is compiled (postfach.sieve) before it is stored, activated or
declared good; a syntax error is refused with its place: `NO "line L, column
C: ..."`. A script that compiles but files into a folder the account does not
have (without `:create`, so delivery would keep the mail in the Inbox) is
stored with `OK (WARNINGS)` naming each such place (§1.3). The limits
`limits.sieve_max_script_size` (octets of one script) and
`limits.sieve_max_scripts` (scripts per account) answer QUOTA/MAXSIZE and
QUOTA/MAXSCRIPTS.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from postfach.managesieve import responses
from postfach.managesieve.commands import (
    CheckScript,
    DeleteScript,
    GetScript,
    HaveSpace,
    ListScripts,
    PutScript,
    RenameScript,
    SetActive,
)
from postfach.managesieve.responses import SieveNo
from postfach.managesieve.state import Conversation
from postfach.sieve import Script, SieveError, compile_script
from postfach.sieve.tree import Command, StringList
from postfach.store.api import AlreadyExists
from postfach.store.records import AccountId

__all__ = [
    "checkscript",
    "deletescript",
    "getscript",
    "havespace",
    "listscripts",
    "putscript",
    "renamescript",
    "setactive",
]

NONEXISTENT = "There is no script by that name"
EXISTS = "A script of that name exists already"


def _account(s: Conversation) -> AccountId:
    assert s.account is not None, "the command table allows this only after login"
    return s.account.id


def _check(text: str) -> Script:
    try:
        return compile_script(text)
    except SieveError as exc:
        raise SieveNo(str(exc)) from None


def _fileintos(commands: Iterable[Command]) -> Iterator[Command]:
    for command in commands:
        if command.name == "fileinto":
            yield command
        yield from _fileintos(command.block or ())


async def _stored(s: Conversation, script: Script, done: str) -> bytes:
    """OK, or OK (WARNINGS) for each fileinto into a folder that does not exist."""
    boxes = await s.ctx.store.mailboxes.list_mailboxes(_account(s))
    names = {"INBOX" if b.name.upper() == "INBOX" else b.name for b in boxes}
    warnings = []
    for command in _fileintos(script.commands):
        target = command.positional[0] if command.positional else None
        if "create" in command.tagged or not isinstance(target, StringList):
            continue
        name = target.values[0] if target.values else ""
        if "${" not in name and ("INBOX" if name.upper() == "INBOX" else name) not in names:
            warnings.append(
                f"line {command.line}, column {command.column}: fileinto {name!r}:"
                " there is no such folder; that mail would stay in the Inbox"
            )
    if warnings:
        return responses.ok("; ".join(warnings), "WARNINGS")
    return responses.ok(done)


async def _check_space(s: Conversation, name: str, size: int) -> None:
    """QUOTA/MAXSIZE past the size limit; QUOTA/MAXSCRIPTS for one script too many."""
    if size > s.max_script_size:
        raise SieveNo(f"A script may have at most {s.max_script_size} octets", "QUOTA/MAXSIZE")
    scripts = await s.ctx.store.sieve.list_scripts(_account(s))
    if len(scripts) >= s.max_scripts and all(info.name != name for info in scripts):
        raise SieveNo(f"An account may have at most {s.max_scripts} scripts", "QUOTA/MAXSCRIPTS")


async def havespace(s: Conversation, cmd: HaveSpace) -> None:
    await _check_space(s, cmd.name, cmd.size)
    s.out.append(responses.ok("Putscript would succeed"))


async def putscript(s: Conversation, cmd: PutScript) -> None:
    await _check_space(s, cmd.name, len(cmd.script.encode("utf-8")))
    script = _check(cmd.script)
    await s.ctx.store.sieve.put_script(_account(s), cmd.name, cmd.script)
    s.out.append(await _stored(s, script, "Script stored"))


async def checkscript(s: Conversation, cmd: CheckScript) -> None:
    s.out.append(await _stored(s, _check(cmd.script), "Script is valid"))


async def listscripts(s: Conversation, cmd: ListScripts) -> None:
    lines = [
        responses.string(info.name) + (b" ACTIVE" if info.active else b"") + b"\r\n"
        for info in await s.ctx.store.sieve.list_scripts(_account(s))
    ]
    s.out.append(b"".join(lines) + responses.ok("Listscripts completed"))


async def setactive(s: Conversation, cmd: SetActive) -> None:
    """§2.8: the empty name deactivates; a script is compiled again before it runs."""
    sieve = s.ctx.store.sieve
    if cmd.name:
        text = await sieve.get_script(_account(s), cmd.name)
        if text is None:
            raise SieveNo(NONEXISTENT, "NONEXISTENT")
        _check(text)
    if not await sieve.set_active(_account(s), cmd.name or None):
        raise SieveNo(NONEXISTENT, "NONEXISTENT")
    s.out.append(responses.ok("Script activated" if cmd.name else "No script is active now"))


async def getscript(s: Conversation, cmd: GetScript) -> None:
    text = await s.ctx.store.sieve.get_script(_account(s), cmd.name)
    if text is None:
        raise SieveNo(NONEXISTENT, "NONEXISTENT")
    data = text.encode("utf-8")
    # Always a literal: clients take the script from one (sievelib strips its size line).
    s.out.append(b"{%d}\r\n" % len(data) + data + b"\r\n" + responses.ok("Getscript completed"))


async def deletescript(s: Conversation, cmd: DeleteScript) -> None:
    sieve = s.ctx.store.sieve
    active = await sieve.active_script(_account(s))
    if active is not None and active[0] == cmd.name:
        raise SieveNo("The active script cannot be deleted", "ACTIVE")
    if not await sieve.delete_script(_account(s), cmd.name):
        raise SieveNo(NONEXISTENT, "NONEXISTENT")
    s.out.append(responses.ok("Script deleted"))


async def renamescript(s: Conversation, cmd: RenameScript) -> None:
    sieve = s.ctx.store.sieve
    names = {info.name for info in await sieve.list_scripts(_account(s))}
    if cmd.old not in names:
        raise SieveNo(NONEXISTENT, "NONEXISTENT")
    if cmd.new in names and cmd.new != cmd.old:
        raise SieveNo(EXISTS, "ALREADYEXISTS")
    if cmd.new != cmd.old:
        try:
            renamed = await sieve.rename_script(_account(s), cmd.old, cmd.new)
        except AlreadyExists:  # made meanwhile by another session
            raise SieveNo(EXISTS, "ALREADYEXISTS") from None
        if not renamed:
            raise SieveNo(NONEXISTENT, "NONEXISTENT")
    s.out.append(responses.ok("Script renamed"))
