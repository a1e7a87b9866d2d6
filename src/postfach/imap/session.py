"""One IMAP session: state machine, the command table, and the one error catch.

Invariants (after mox's imapserver):
- A command sees every change committed before it began, whichever process or
  node made it: in the selected state it first catches up from the store (one
  small query for the mailbox's HIGHESTMODSEQ; the changes since the view's
  `synced` only when it moved). The hub's changes (this process's at once,
  other workers' and nodes' later) say that the view may be behind: the
  session takes in what is safe at once (`SelectedView.hear`), and catches up
  from the store at the end of the command, or at once in IDLE.
- No client I/O is awaited while a store transaction is open: handlers call the
  store, then write.
- After every await the selected mailbox may have changed under us; handlers
  work from UIDs and skip messages the store no longer has.
- EXPUNGE is never announced during a non-UID FETCH, STORE, SEARCH, COPY, SORT
  or THREAD (RFC 9051 §7.5.1), and never when no command is in progress unless
  NOTIFY's `selected` filter asks for it (RFC 5465 §5.3).
- With NOTIFY set, every change taken from the hub also goes to `notifying`, and
  what it asks for is written at the end of each command and, between commands,
  as the hub tells (server.py; handlers/notify.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Protocol

from postfach import metrics
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import Bad, Bye, No
from postfach.imap.lexer import BadSyntax
from postfach.imap.notifying import Moment, Notifying
from postfach.imap.parser import parse_command
from postfach.imap.selected import SelectedView
from postfach.imap.state import AUTHED, ImapLimits, State, capabilities
from postfach.imap.updates import UpdateContexts
from postfach.store import faults
from postfach.store.api import (
    AlreadyExists,
    NotFound,
    OverQuota,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from postfach.store.events import Change, ChangeCredentials
from postfach.store.records import Account, ModSeq

if TYPE_CHECKING:
    from postfach.context import ServerContext

__all__ = ["CommandTable", "Conn", "Handler", "Session"]

log = logging.getLogger(__name__)


class Conn(Protocol):
    """What a session needs of its connection (server.py implements it)."""

    ip: str
    tls: bool
    plaintext_port: bool

    def write(self, data: bytes) -> None: ...
    async def flush(self) -> None: ...
    def backlog(self) -> int:
        """Octets written and not yet taken by the peer."""

    async def read_line(self) -> bytes: ...
    async def start_tls(self) -> None: ...


Handler = Callable[["Session", Any], Awaitable[str | None]]
# Each command type: its handler and the states that allow it (handlers/__init__.py).
CommandTable = Mapping[type[Any], tuple[Handler, State]]


class Session:
    """Holds the state of one connection and applies commands to the store.

    Handlers read the session's fields; they change its state only through its
    methods (logged_in, enter_selected, leave_selected, enable, save_search, close)."""

    def __init__(
        self, ctx: ServerContext, conn: Conn, limits: ImapLimits, commands: CommandTable
    ) -> None:
        self.ctx = ctx
        self.conn = conn
        self.limits = limits
        self.commands = commands
        self.state = State.NOT_AUTH
        self.account: Account | None = None
        self.queue: asyncio.Queue[Change] | None = None
        self.view: SelectedView | None = None
        self.enabled: set[str] = set()
        self.saved_uids: list[int] = []  # SEARCHRES `$` (RFC 5182), as UIDs
        self.contexts = UpdateContexts()  # RFC 5267 SEARCH/SORT RETURN (UPDATE)
        self.notifying: Notifying | None = None  # RFC 5465 NOTIFY SET
        self.pending: list[Change] = []
        self.dirty = False  # the hub told of a change the view may not hold yet
        self.last_bad = False
        self._exit = ExitStack()

    # -- properties ------------------------------------------------------------

    @property
    def utf8(self) -> bool:
        return bool(self.enabled & {"UTF8=ACCEPT", "IMAP4REV2"})

    @property
    def condstore(self) -> bool:
        return bool(self.enabled & {"CONDSTORE", "QRESYNC"})

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def login_allowed(self) -> bool:
        return self.conn.tls or self.ctx.config.auth.allow_plaintext

    def capabilities(self) -> str:
        return capabilities(
            self.state,
            plaintext_port=self.conn.plaintext_port,
            tls=self.conn.tls,
            login_allowed=self.login_allowed,
            appendlimit=self.limits.max_message_size,
        )

    def selected(self) -> SelectedView:
        if self.view is None:
            raise No(r.WRONG_STATE)
        return self.view

    def require_account(self) -> Account:
        if self.account is None:
            raise No(r.WRONG_STATE)
        return self.account

    # -- lifecycle -----------------------------------------------------------------

    def greet(self) -> None:
        text = f"OK [CAPABILITY {self.capabilities()}] {r.GREETING}"
        self.conn.write(r.untagged(text))

    def logged_in(self, account: Account) -> None:
        self.account = account
        self.state = State.AUTH
        self.queue = self._exit.enter_context(self.ctx.store.hub.watch(account.id))

    def enter_selected(self, view: SelectedView) -> None:
        self.view = view
        self.dirty = False
        self.state = State.SELECTED

    def leave_selected(self) -> None:
        self.view = None
        self.state = State.AUTH
        self.contexts.clear()

    def enable(self, *capabilities: str) -> None:
        """RFC 5161 ENABLE, or CONDSTORE turned on by its first use (RFC 7162 §3.1),
        which with a mailbox selected announces its HIGHESTMODSEQ."""
        announce = "CONDSTORE" in capabilities and self.view is not None and not self.condstore
        self.enabled.update(capabilities)
        if announce and self.view is not None:
            highest = self.view.highestmodseq
            self.conn.write(r.untagged(f"OK [HIGHESTMODSEQ {highest}] Highest"))

    def save_search(self, uids: list[int]) -> None:
        """SEARCHRES (RFC 5182): the result `$` stands for."""
        self.saved_uids = uids

    def set_notifying(self, state: Notifying | None) -> None:
        """RFC 5465 NOTIFY SET (a state) or NOTIFY NONE (None)."""
        self.notifying = state

    def add_pending(self, change: Change) -> None:
        """A change that arrived while a command or IDLE waited; folded in at `sync`."""
        self.pending.append(change)

    def close(self) -> None:
        self._exit.close()
        self.queue = None
        self.state = State.LOGOUT

    # -- changes from other sessions -------------------------------------------------

    def take_changes(self) -> list[Change]:
        """The changes the hub brought since the last call; those to the selected
        mailbox past the view's `synced` mark it dirty."""
        changes = self.pending
        self.pending = []
        queue = self.queue
        if queue is not None:
            while not queue.empty():
                changes.append(queue.get_nowait())
        view = self.view
        if view is not None:
            for change in changes:
                if view.hear(change):
                    self.dirty = True
        if self.notifying is not None:
            self.notifying.hear(changes, view.mailbox_id if view is not None else None)
        return changes

    def check_logout(self, changes: list[Change]) -> None:
        account = self.account
        for change in changes:
            if (
                isinstance(change, ChangeCredentials)
                and change.logout
                and account is not None
                and change.generation > account.credentials_gen
            ):
                raise Bye(r.LOGGED_OUT_EVERYWHERE)

    async def catch_up(self) -> None:
        """Folds in every change committed to the selected mailbox since the view's
        `synced`: one statement, the mailbox's HIGHESTMODSEQ and what came after.
        A new keyword is announced at once, so the command's own FETCH may show it."""
        view = self.view
        if view is None:
            return
        self.dirty = False
        news = await self.ctx.store.mail.changes_since(view.mailbox_id, ModSeq(view.synced))
        if news is None or self.view is not view:
            return  # deleted under us: the command fails on its own
        view.fold(news.changed, news.expunged, int(news.highestmodseq))
        for line in view.keyword_lines():
            self.conn.write(line)

    async def refresh(self) -> None:
        """IDLE: reports what the hub told at once, then catches up while the view
        may be behind, and reports that."""
        self.sync(allow_expunge=True)
        await self.conn.flush()
        while self.dirty:
            await self.catch_up()
            self.sync(allow_expunge=True)

    def sync(self, allow_expunge: bool) -> None:
        """Writes what the client may now learn of the changes folded into the view."""
        self.check_logout(self.take_changes())
        self.report_view(allow_expunge)

    def report_view(self, allow_expunge: bool, flags: bool = True) -> None:
        """The selected view's news as untagged responses (flag changes may wait)."""
        view = self.view
        if view is None:
            return
        if allow_expunge and self.contexts and view.pending_expunge:
            for line in self.contexts.expunging(view):  # before EXPUNGE renumbers
                self.conn.write(line)
        for line in view.flush(allow_expunge, self.qresync, self.condstore, flags):
            self.conn.write(line)

    async def notify_now(self) -> None:
        """RFC 5465: between commands (or in IDLE), reports what NOTIFY asks for of
        the changes the hub told (handlers/notify.py, under `Notifying` in the table)."""
        self.check_logout(self.take_changes())
        await self.notify_deliver(Moment(between=True))

    async def notify_deliver(self, moment: Moment) -> None:
        if self.notifying is not None and self.state & AUTHED:  # nothing after LOGOUT's BYE
            deliver, _ = self.commands[Notifying]
            await deliver(self, moment)

    async def refresh_contexts(self) -> None:
        """RFC 5267 ADDTO/REMOVEFROM after the view changed: the command table names
        the handler (handlers/contexts.py) under `UpdateContexts`."""
        if self.contexts and self.view is not None:
            refresh, _ = self.commands[UpdateContexts]
            await refresh(self, None)

    # -- executing one command -------------------------------------------------------

    async def execute(self, raw: bytes) -> None:
        """Parses and runs one complete command; writes every response line for it."""
        tag: str | None = None
        self.last_bad = False
        metrics.command("imap")
        try:
            try:
                cmd = parse_command(raw, self.utf8)
            except BadSyntax as exc:
                tag = exc.tag
                raise (No if exc.refused else Bad)(exc.reason) from None
            tag = cmd.tag
            text = await self.dispatch(cmd)
            if text is not None:
                self.conn.write(r.tagged(tag, "OK", text))
        except Bad as exc:
            self.last_bad = True
            self._after_error(allow_expunge=False)
            self.conn.write(r.tagged(tag or "*", "BAD", exc.line("").lstrip()))
        except No as exc:
            self._after_error(allow_expunge=False)
            self.conn.write(r.tagged(tag or "*", "NO", exc.line("").lstrip()))
        except StoreError as exc:
            self._after_error(allow_expunge=False)
            if isinstance(exc, StoreUnavailable | StoreFull):
                faults.report(exc, f"imap session from {self.conn.ip}")
            self.conn.write(r.tagged(tag or "*", "NO", _store_error(exc)))
        except Bye as exc:
            self.conn.write(r.untagged(exc.line("BYE")))
            self.close()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            raise
        except Exception:
            log.exception("imap session from %s: command failed", self.conn.ip)
            self.conn.write(r.untagged("BYE [SERVERBUG] " + r.SERVER_BUG))
            self.close()

    def _after_error(self, allow_expunge: bool) -> None:
        if self.state is State.SELECTED:
            self.sync(allow_expunge)

    async def dispatch(self, cmd: c.Command) -> str | None:
        handler, states = self.commands[type(cmd)]
        if not self.state & states:
            if self.state is State.NOT_AUTH:
                raise No("Log in first")
            raise No(r.WRONG_STATE)
        if self.state is State.SELECTED and not isinstance(cmd, _LEAVES_VIEW):
            await self.catch_up()
            # told before the command's own data: a FETCH of a message that
            # arrived finds its EXISTS before it
            self.sync(allow_expunge=not _holds_expunge(cmd))
        text = await handler(self, cmd)
        if self.state is State.SELECTED:
            self.check_logout(self.take_changes())
            if self.dirty:
                await self.catch_up()
            self.sync(allow_expunge=not _holds_expunge(cmd))
            await self.refresh_contexts()
        elif self.state is State.AUTH:
            self.check_logout(self.take_changes())
        own = isinstance(cmd, c.Append | c.Copy)
        await self.notify_deliver(Moment(between=False, own_arrivals=own))
        return text


# Commands that report nothing of the selected mailbox: they leave it (or the session).
_LEAVES_VIEW = (c.Logout, c.Select, c.Close, c.Unselect)


def _holds_expunge(cmd: c.Command) -> bool:
    """RFC 9051 §7.5.1: no EXPUNGE during FETCH, STORE, SEARCH (or other commands on numbers)."""
    if isinstance(cmd, c.Fetch | c.Store | c.Search | c.Sort | c.Thread | c.Copy):
        return not cmd.uid
    return False


def _store_error(exc: StoreError) -> str:
    if isinstance(exc, NotFound):
        return "[NONEXISTENT] " + r.NO_SUCH_MAILBOX
    if isinstance(exc, AlreadyExists):
        return "[ALREADYEXISTS] Mailbox already exists"
    if isinstance(exc, OverQuota):
        return "[OVERQUOTA] Quota exceeded"
    # RFC 5530 UNAVAILABLE, "temporary failure because a subsystem is down", for
    # both: a full disk is the server's, not the user's quota (OVERQUOTA would
    # contradict GETQUOTAROOT), and it passes when the administrator frees space.
    if isinstance(exc, StoreFull):
        return "[UNAVAILABLE] " + r.STORE_FULL
    if isinstance(exc, StoreUnavailable):
        return "[UNAVAILABLE] " + r.STORE_UNAVAILABLE
    return "[SERVERBUG] The operation failed"
