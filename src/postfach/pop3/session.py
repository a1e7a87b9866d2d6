"""The POP3 session: the state machine of RFC 1939 §3 and its command table.

The server feeds it one line at a time (`handle`) and sends what it appends to
`out`. The session never reads or writes a socket: STLS only sets
`want_tls`, and ending the connection sets `closing`. The command table
`COMMANDS` (type → handler, states) is declared once at the end of the module;
a command in the wrong state gets -ERR and the session goes on.

Errors: a handler raises `Pop3Error(reply)`; `handle` writes the reply. That is
the one place errors become wire replies. A `StoreError` becomes a [SYS/TEMP]
reply (a store that is down or full too, and the session goes on); anything
else is logged and ends the session with a generic reply, never with
internal text.

Invariants: the maildrop lock (store.locks.try_lock, across nodes) is held from a
successful login until `aclose`; it is a lease of `server.lease_time` seconds,
renewed every third of it while the session lives (so a killed node's lock is
gone that long after), and its loss ends the connection. The UPDATE state (RFC
1939 §6) runs only on QUIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from postfach import metrics
from postfach.auth.sasl import SaslExchange
from postfach.context import ServerContext
from postfach.pop3 import authorization as login
from postfach.pop3 import replies
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
from postfach.pop3.maildrop import Entry, Maildrop, expire_days
from postfach.pop3.parser import parse
from postfach.pop3.reader import MessageReader
from postfach.pop3.replies import Pop3Error
from postfach.pop3.transfer import TERMINATOR, head_and_lines, stuff, to_crlf
from postfach.store import faults
from postfach.store.api import NotFound, StoreError, StoreFull, StoreUnavailable
from postfach.store.events import ChangeCredentials
from postfach.store.records import Account

__all__ = ["COMMANDS", "Pop3Error", "Session", "SessionEnv", "State"]

log = logging.getLogger(__name__)

MAX_ERRORS = 20
MIN_LOCK_TTL = 1.0


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


AUTHORIZATION = frozenset({State.AUTHORIZATION})
TRANSACTION = frozenset({State.TRANSACTION})
ANY = AUTHORIZATION | TRANSACTION


@dataclass(slots=True)
class SessionEnv:
    """What the server tells the session about its connection."""

    ctx: ServerContext
    listener: str  # "pop3" or "pop3s"
    ip: str
    tls: bool
    close: Callable[[], None]  # ends the connection now (logout everywhere, lock lost)


class Session:
    """One POP3 conversation; `handle` applies one line, replies go to `out`."""

    def __init__(self, env: SessionEnv, session_id: str) -> None:
        self.env = env
        self.ctx = env.ctx
        self.id = session_id
        self.state = State.AUTHORIZATION
        self.out: list[bytes] = []
        self.closing = False
        self.want_tls = False
        self.errors = 0
        self.pending_user: str | None = None
        self.sasl: SaslExchange | None = None  # while AUTH runs
        self.account: Account | None = None
        self.maildrop = Maildrop([], [])
        self.reader = MessageReader(self.ctx.store, [])
        self._lock_name = ""
        self._stack = contextlib.ExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the server's side ---------------------------------------------------
    def greeting(self) -> bytes:
        return replies.ok(f"{self.ctx.hostname} POP3 server ready")

    async def handle(self, line: bytes) -> None:
        """Applies one line (without its line end): a command or a SASL response."""
        try:
            if self.sasl is not None:
                await login.sasl_step(self, line)
            else:
                metrics.command("pop3")
                await self.dispatch(parse(line))
        except Pop3Error as exc:
            self.fail(exc.reply)
        except (StoreUnavailable, StoreFull) as exc:
            # The server's fault, not the client's: answered, not counted.
            faults.report(exc, f"pop3 {self.id}")
            full = isinstance(exc, StoreFull)
            self.out.append(replies.STORAGE_FULL if full else replies.STORE_UNAVAILABLE)
        except StoreError:
            log.exception("pop3 %s: store error", self.id)
            self.fail(replies.STORE_FAILED)
        except Exception:
            log.exception("pop3 %s: internal error", self.id)
            self.out.append(replies.SERVER_ERROR)
            self.closing = True

    async def dispatch(self, command: Command | BadCommand) -> None:
        if isinstance(command, BadCommand):
            raise Pop3Error(replies.err(command.reason))
        handler, states = COMMANDS[type(command)]
        if self.state not in states:
            if self.state is State.AUTHORIZATION:
                raise Pop3Error(replies.NOT_AUTHENTICATED)
            raise Pop3Error(replies.err("command not valid after login"))
        await handler(self, command)

    def fail(self, reply: bytes) -> None:
        self.out.append(reply)
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            self.out.append(replies.TOO_MANY_ERRORS)
            self.closing = True

    def tls_started(self) -> None:
        """RFC 2595 §4: after STLS the session starts over, minus the greeting."""
        self.env.tls = True
        self.want_tls = False
        self.pending_user = None

    @property
    def auth_allowed(self) -> bool:
        """USER/PASS and AUTH: over TLS, or in the clear when the operator allows it."""
        return self.env.tls or self.ctx.config.auth.allow_plaintext

    @property
    def stls_offered(self) -> bool:
        return not self.env.tls and self.env.listener == "pop3"

    async def enter_transaction(self, account: Account) -> None:
        """After a good login: lock the maildrop (across nodes), load it, watch for logout."""
        name = f"pop3:{account.id}"
        store = self.ctx.store
        if not await store.locks.try_lock(name, self.lock_owner, self.lock_ttl):
            raise Pop3Error(replies.IN_USE)
        self._lock_name = name
        try:
            self.maildrop = await Maildrop.load(store, account)
            self.reader = MessageReader(store, self.maildrop.entries)
            queue = self._stack.enter_context(store.hub.watch(account.id))
        except BaseException:
            await self._unlock()
            raise
        self.account = account
        self.state = State.TRANSACTION
        self._tasks.append(asyncio.create_task(self._watch(queue)))
        self._tasks.append(asyncio.create_task(self._keep_lock()))

    @property
    def lock_ttl(self) -> float:
        return max(MIN_LOCK_TTL, self.ctx.config.server.lease_time)

    @property
    def lock_owner(self) -> str:
        return f"{self.ctx.node_id}/{self.id}"

    async def aclose(self) -> None:
        """The connection ended (QUIT or not): stop watching, release the lock."""
        for task in self._tasks:
            task.cancel()
        self._stack.close()
        await self._unlock()

    async def _unlock(self) -> None:
        if self._lock_name:
            name, self._lock_name = self._lock_name, ""
            try:
                await self.ctx.store.locks.unlock(name, self.lock_owner)
            except StoreError:
                log.exception("pop3 %s: unlock failed; the lock expires by itself", self.id)

    async def _watch(self, queue: asyncio.Queue[Any]) -> None:
        """R4: "log out on all devices" ends this session at once."""
        while True:
            change = await queue.get()
            if isinstance(change, ChangeCredentials) and change.logout:
                log.info("pop3 %s: logged out everywhere; closing", self.id)
                self.closing = True
                self.env.close()
                return

    async def _keep_lock(self) -> None:
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            try:
                held = await self.ctx.store.locks.refresh_lock(
                    self._lock_name, self.lock_owner, self.lock_ttl
                )
            except StoreError:
                log.exception("pop3 %s: lock refresh failed", self.id)
                continue
            if not held:
                log.warning("pop3 %s: maildrop lock lost; closing", self.id)
                self.closing = True
                self.env.close()
                return

    # -- helpers for handlers --------------------------------------------------
    def entry(self, msg: int) -> Entry:
        entry = self.maildrop.get(msg)
        if entry is None:
            raise Pop3Error(replies.NO_SUCH_MESSAGE)
        if entry.deleted:
            raise Pop3Error(replies.MESSAGE_DELETED)
        return entry

    async def message_bytes(self, number: int, *, keep: bool = False) -> bytes:
        """prefix + blob of message `number` with CRLF line ends."""
        try:
            raw = await self.reader.read(number, keep=keep)
        except NotFound:
            raise Pop3Error(replies.MESSAGE_GONE) from None
        return to_crlf(raw)

    def capabilities(self) -> list[bytes]:
        """RFC 2449 §5 CAPA, the same list in both states (but EXPIRE's value)."""
        caps = [b"CAPA", b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING"]
        if self.auth_allowed:
            caps += [b"USER", b"SASL PLAIN LOGIN"]
        if self.stls_offered:
            caps.append(b"STLS")
        caps.append(self._expire())
        caps.append(b"IMPLEMENTATION postfach")
        return caps

    def _expire(self) -> bytes:
        if self.state is State.AUTHORIZATION:
            return b"EXPIRE NEVER USER"  # the Inbox never expires; chosen folders may
        retention = self.ctx.config.retention
        days = expire_days(self.maildrop.folders, retention.trash_days, retention.spam_days)
        return b"EXPIRE NEVER" if days is None else b"EXPIRE %d" % days


def multiline(out: list[bytes], status: bytes, lines: list[bytes]) -> None:
    """A status line, then the lines (no dot may start them), then the terminator."""
    if lines:
        out.append(status + b"\r\n".join(lines) + b"\r\n" + TERMINATOR)
    else:
        out.append(status + TERMINATOR)


# -- TRANSACTION state: RFC 1939 §5 and §7 ---------------------------------------


async def _stat(s: Session, cmd: Stat) -> None:
    count, size = s.maildrop.stat()
    s.out.append(b"+OK %d %d\r\n" % (count, size))


async def _list(s: Session, cmd: ListMessages) -> None:
    if cmd.msg is not None:
        s.out.append(b"+OK %d %d\r\n" % (cmd.msg, s.entry(cmd.msg).size))
        return
    count, size = s.maildrop.stat()
    lines = [b"%d %d" % (n, e.size) for n, e in s.maildrop.live()]
    multiline(s.out, b"+OK %d messages (%d octets)\r\n" % (count, size), lines)


async def _uidl(s: Session, cmd: Uidl) -> None:
    if cmd.msg is not None:
        s.out.append(b"+OK %d %s\r\n" % (cmd.msg, s.entry(cmd.msg).uidl.encode()))
        return
    lines = [b"%d %s" % (n, e.uidl.encode()) for n, e in s.maildrop.live()]
    multiline(s.out, replies.OK, lines)


async def _retr(s: Session, cmd: Retr) -> None:
    entry = s.entry(cmd.msg)
    data = await s.message_bytes(cmd.msg)
    entry.retrieved = True
    s.out.append(b"+OK %d octets\r\n" % len(data))
    s.out.append(stuff(data))
    s.out.append(TERMINATOR)


async def _top(s: Session, cmd: Top) -> None:
    """RFC 1939 §7 TOP; never marks the message read (R13)."""
    s.entry(cmd.msg)
    data = head_and_lines(await s.message_bytes(cmd.msg, keep=True), cmd.lines)
    s.out.append(replies.OK)
    s.out.append(stuff(data))
    s.out.append(TERMINATOR)


async def _dele(s: Session, cmd: Dele) -> None:
    s.entry(cmd.msg).deleted = True
    s.out.append(replies.ok(f"message {cmd.msg} deleted"))


async def _noop(s: Session, cmd: Noop) -> None:
    s.out.append(replies.OK)


async def _rset(s: Session, cmd: Rset) -> None:
    s.maildrop.reset()
    count, size = s.maildrop.stat()
    s.out.append(b"+OK maildrop has %d messages (%d octets)\r\n" % (count, size))


async def _quit(s: Session, cmd: Quit) -> None:
    """RFC 1939 §6: QUIT in TRANSACTION enters UPDATE; in AUTHORIZATION it just ends."""
    s.closing = True
    if s.state is State.TRANSACTION and s.account is not None:
        committed = await s.maildrop.commit(s.ctx.store, s.account)
        # Free the maildrop before the reply: a program that reconnects at once
        # (in this worker or another) must not find it still in use.
        await s.aclose()
        if not committed:
            s.out.append(replies.SOME_NOT_REMOVED)
            return
    s.out.append(replies.ok(f"{s.ctx.hostname} POP3 server signing off"))


async def _capa(s: Session, cmd: Capa) -> None:
    multiline(s.out, replies.ok("capability list follows"), s.capabilities())


Handler = Callable[[Session, Any], Awaitable[None]]

# The one command table: command type → (handler, states where it is allowed).
COMMANDS: dict[type[Command], tuple[Handler, frozenset[State]]] = {
    User: (login.user, AUTHORIZATION),
    Pass: (login.password, AUTHORIZATION),
    Auth: (login.auth, AUTHORIZATION),
    Stls: (login.stls, AUTHORIZATION),
    Capa: (_capa, ANY),
    Quit: (_quit, ANY),
    Stat: (_stat, TRANSACTION),
    ListMessages: (_list, TRANSACTION),
    Retr: (_retr, TRANSACTION),
    Top: (_top, TRANSACTION),
    Dele: (_dele, TRANSACTION),
    Noop: (_noop, TRANSACTION),
    Rset: (_rset, TRANSACTION),
    Uidl: (_uidl, TRANSACTION),
}
