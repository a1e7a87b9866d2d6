"""The shared-mailbox profile of bench/imap/mix.py: several sessions on one INBOX.

C clients over U users: each session logs in as one of the U picked at random,
so at 10 clients over 20 users some INBOXes have two sessions at once, at 50
over 20 most have several. One session is a mail program's check with a fresh
LOGIN:

    LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS), UID FETCH <2 UIDs> BODY.PEEK[],
    UID STORE <uid> +FLAGS (<keyword>) or -FLAGS, LIST "" "*", STATUS INBOX,
    APPEND (now and then with a keyword), NOOP, UID STORE <new> +FLAGS.SILENT
    (\\Deleted), EXPUNGE, LOGOUT

Every session keeps what the server told it (the message count from EXISTS and
EXPUNGE, the keywords from FLAGS) and counts protocol errors: a NO or BAD that
should not happen, a FETCH or EXPUNGE of a message number it was never told of,
a keyword in a FETCH before FLAGS announced it.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from client import ImapClient, ImapError
from servers import PASSWORD, message, user_name

__all__ = ["OPS_PER_SESSION", "Tally", "shared_session"]

OPS_PER_SESSION = 12
KEYWORDS = [f"$Label{n}" for n in range(12)]

_LINE = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE|FETCH)\b(.*)$")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


class Tally:
    """Protocol errors by kind, with the first example of each."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, example[:200])


class Told:
    """What one session was told: the message count and the keywords."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.count = 0
        self.keywords: set[bytes] = set()

    def learn(self, data: bytes, command: bytes) -> None:
        for line in data.split(b"\r\n"):
            if line.startswith(b"* FLAGS ("):
                self.keywords = {
                    f.lower() for f in line[9:].rstrip(b")").split() if not f.startswith(b"\\")
                }
                continue
            m = _LINE.match(line)
            if m is None:
                continue
            number, kind = int(m.group(1)), m.group(2)
            if kind == b"EXISTS":
                self.count = number
                continue
            if number > self.count:
                self.tally.add("sequence", f"{command.decode()}: {line.decode()}")
            if kind == b"EXPUNGE":
                self.count -= 1
                continue
            flags = _FLAGS.search(m.group(3))
            if flags is None:
                continue
            shown = {f.lower() for f in flags.group(1).split() if not f.startswith(b"\\")}
            if shown - self.keywords:
                self.tally.add("keyword before FLAGS", f"{command.decode()}: {line.decode()}")


async def _run(
    c: ImapClient, told: Told, text: bytes, literal: bytes | None = None, bulk: bool = False
) -> bytes | None:
    try:
        data = await (c.command_bulk(text) if bulk else c.command(text, literal))
    except ImapError as exc:
        reply = str(exc)
        kind = "NO" if " NO " in reply[:12] else "BAD"
        if "NONEXISTENT" in reply:
            kind = "NO [NONEXISTENT]"
        elif "sequence number" in reply:
            kind = "BAD sequence number"
        told.tally.add(kind, f"{text.split(b' {')[0].decode()}: {reply}")
        return None
    told.learn(data, text)
    return data


def _uids(data: bytes) -> list[int]:
    return [int(u) for u in re.findall(rb"UID (\d+)", data)]


async def shared_session(port: int, user: int, rng: random.Random, tally: Tally) -> int:
    """One session of the shared profile; returns the commands sent."""
    try:
        c = await ImapClient.connect("127.0.0.1", port)
    except (ImapError, OSError) as exc:
        tally.add("connection refused", str(exc))
        return 0
    told = Told(tally)
    try:
        login = b'LOGIN "%s" "%s"' % (user_name(user).encode(), PASSWORD.encode())
        await _run(c, told, login)
        await _run(c, told, b"SELECT INBOX")
        listing = await _run(c, told, b"FETCH 1:* (UID FLAGS)", bulk=True) or b""
        uids = _uids(listing)
        picks = rng.sample(uids, min(2, len(uids)))
        if picks:
            wanted = b",".join(b"%d" % u for u in picks)
            await _run(c, told, b"UID FETCH %s BODY.PEEK[]" % wanted)
            sign = b"+" if rng.random() < 0.7 else b"-"
            keyword = rng.choice(KEYWORDS).encode()
            await _run(c, told, b"UID STORE %d %sFLAGS (%s)" % (picks[0], sign, keyword))
        await _run(c, told, b'LIST "" "*"')
        await _run(c, told, b"STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
        flags = b" (%s)" % rng.choice(KEYWORDS).encode() if rng.random() < 0.3 else b""
        raw = message(user, rng.randrange(10**6))
        await _run(c, told, b"APPEND INBOX" + flags, raw)
        appended = re.search(rb"APPENDUID \d+ (\d+)", c.last)
        await _run(c, told, b"NOOP")
        if appended is not None:
            await _run(c, told, b"UID STORE %s +FLAGS.SILENT (\\Deleted)" % appended.group(1))
        await _run(c, told, b"EXPUNGE")
        await _run(c, told, b"LOGOUT")
    finally:
        c.close()
    return OPS_PER_SESSION
