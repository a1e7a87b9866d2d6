"""Many sessions on a few INBOXes at once, over two nodes of one database: SELECT,
FETCH, STORE of keywords, APPEND, EXPUNGE, STATUS, LIST and LOGOUT in a random mix
(a fixed seed, a fixed number of commands). Every session keeps what the server told
it (the message count from EXISTS and EXPUNGE, the keywords from FLAGS) and uses
only message numbers it knows. Nothing may go wrong: no NO or BAD, no FETCH of a
number the session was not told of, no keyword in a FETCH before FLAGS announced it.
"""

from __future__ import annotations

import asyncio
import random
import re

from tests.imap.conftest import PASSWORD, USER
from tests.imap.imapwire import Wire
from tests.imap.messages import SIMPLE, literal

USERS = [USER, "b@example.org", "c@example.org"]
SESSIONS = 9  # three on each INBOX, on both nodes
COMMANDS = 45  # per session
KEYWORDS = ["$Work", "$Home", "$Later", "$Todo", "$Read", "$Done"]
SEED = 2026

_EXISTS = re.compile(r"\* (\d+) EXISTS$")
_EXPUNGE = re.compile(r"\* (\d+) EXPUNGE$")
_FETCH = re.compile(r"\* (\d+) FETCH \(")
_FLAGS = re.compile(r"FLAGS \(([^)]*)\)")


class Client:
    """One session and what it was told."""

    def __init__(self, wire: Wire, user: str, errors: list[str]) -> None:
        self.wire = wire
        self.user = user
        self.errors = errors
        self.count = 0
        self.keywords: set[str] = set()

    async def run(self, command: str | bytes) -> list[str]:
        untagged, tagged = await self.wire.cmd(command)
        name = command if isinstance(command, str) else command.split(b" {")[0].decode()
        if not tagged.startswith("OK"):
            self.errors.append(f"{self.user} {name}: {tagged}")
        for line in untagged:
            self.learn(line, name)
        return untagged

    def learn(self, line: str, command: str) -> None:
        head = line.split("\r\n", 1)[0]
        if head.startswith("* FLAGS ("):
            self.keywords = {f.lower() for f in head[9:-1].split() if not f.startswith("\\")}
        elif m := _EXISTS.match(head):
            self.count = int(m.group(1))
        elif m := _EXPUNGE.match(head):
            if int(m.group(1)) > self.count:
                self.errors.append(f"{self.user} {command}: EXPUNGE of unknown {head}")
            self.count -= 1
        elif m := _FETCH.match(head):
            if int(m.group(1)) > self.count:
                self.errors.append(f"{self.user} {command}: FETCH of unknown {head}")
            flags = _FLAGS.search(head)
            shown = {f.lower() for f in flags.group(1).split()} if flags else set()
            unknown = {f for f in shown if not f.startswith("\\")} - self.keywords
            if unknown:
                self.errors.append(f"{self.user} {command}: {sorted(unknown)} before FLAGS")

    async def select(self) -> None:
        self.count = 0
        await self.run("SELECT INBOX")


async def session(host_port: tuple[str, int], user: str, seed: int, errors: list[str]) -> None:
    rng = random.Random(seed)
    wire = await Wire.connect(*host_port)
    client = Client(wire, user, errors)
    try:
        await client.run(f'LOGIN "{user}" "{PASSWORD}"')
        await client.select()
        for _ in range(COMMANDS):
            await one_command(client, rng, host_port)
        await client.run("LOGOUT")
    finally:
        await client.wire.close()


async def one_command(client: Client, rng: random.Random, host_port: tuple[str, int]) -> None:
    n = client.count
    choice = rng.randrange(10)
    if choice == 0 or n == 0:
        flags = f"({rng.choice(KEYWORDS)}) " if rng.random() < 0.5 else ""
        await client.run(f"APPEND INBOX {flags}".encode() + literal(SIMPLE))
    elif choice == 1:
        await client.run("NOOP")
    elif choice == 2:
        await client.run("FETCH 1:* (UID FLAGS)")
    elif choice == 3:
        await client.run(f"FETCH {rng.randint(1, n)} (FLAGS BODY.PEEK[])")
    elif choice == 4:
        await client.run(f"STORE {rng.randint(1, n)} +FLAGS ({rng.choice(KEYWORDS)})")
    elif choice == 5:
        await client.run(f"STORE {rng.randint(1, n)} +FLAGS.SILENT (\\Deleted)")
        await client.run("EXPUNGE")
    elif choice == 6:
        await client.run("STATUS INBOX (MESSAGES UIDNEXT)")
        await client.run('LIST "" "*"')
    elif choice == 7:
        await client.run("CHECK")
    elif choice == 8:
        await client.run(f"STORE {rng.randint(1, n)} -FLAGS ({rng.choice(KEYWORDS)})")
    else:  # a fresh session, as a mail program's next check
        await client.run("LOGOUT")
        await client.wire.close()
        client.wire = await Wire.connect(*host_port)
        await client.run(f'LOGIN "{client.user}" "{PASSWORD}"')
        await client.select()


async def test_many_sessions_on_shared_inboxes(imap, other_node):
    for user in USERS[1:]:
        await imap.add_user(user, PASSWORD)
    nodes = [(imap.host, imap.port("imap")), (other_node.host, other_node.port("imap"))]
    errors: list[str] = []
    await asyncio.gather(
        *(session(nodes[i % 2], USERS[i % len(USERS)], SEED + i, errors) for i in range(SESSIONS))
    )
    assert errors == []
