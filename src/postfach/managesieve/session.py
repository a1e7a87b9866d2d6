"""The ManageSieve session: RFC 5804's two states and the one command table.

The server feeds it one command at a time (`handle`: a line with its
literals in place) and sends what it appends to `out`; the session never
touches a socket. STARTTLS only sets `want_tls`, and ending the connection
sets `closing`. `COMMANDS` (type → handler, states) is declared once at the
end; a command in the wrong state gets NO and the session goes on.

Errors: a handler raises `SieveNo`; `handle` writes its reply, the one place
errors become wire replies. A command that does not parse counts towards
`MAX_ERRORS`, after which the connection ends with BYE. A `StoreError`
becomes NO (TRYLATER); anything else is logged and ends the session with a
generic BYE, never with internal text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from postfach.managesieve import login, responses, scripts
from postfach.managesieve.commands import (
    Authenticate,
    BadCommand,
    Capability,
    CheckScript,
    Command,
    DeleteScript,
    GetScript,
    HaveSpace,
    ListScripts,
    Logout,
    Noop,
    PutScript,
    RenameScript,
    SetActive,
    StartTls,
    Unauthenticate,
)
from postfach.managesieve.parser import parse
from postfach.managesieve.responses import SieveNo
from postfach.managesieve.state import Conversation, SessionEnv, State
from postfach.store import faults
from postfach.store.api import StoreError, StoreFull, StoreUnavailable

__all__ = ["COMMANDS", "MAX_ERRORS", "Session", "SessionEnv", "State"]

log = logging.getLogger("postfach.managesieve")

MAX_ERRORS = 20


class Session(Conversation):
    """One ManageSieve conversation; `handle` applies one command, replies go to `out`."""

    def __init__(self, env: SessionEnv, session_id: str) -> None:
        super().__init__(env, session_id)
        self.errors = 0

    def greeting(self) -> bytes:
        """§1.7: the capabilities, then OK."""
        return self.capability_reply(f"{self.ctx.hostname} ManageSieve ready")

    async def handle(self, data: bytes) -> None:
        """Applies one command, or the client's answer to a SASL challenge."""
        try:
            if self.sasl is not None:
                await login.sasl_step(self, data)
            else:
                await self.dispatch(parse(data))
        except SieveNo as exc:
            self.out.append(exc.reply)
        except (StoreUnavailable, StoreFull) as exc:
            faults.report(exc, f"managesieve {self.id}")
            full = isinstance(exc, StoreFull)
            self.out.append(responses.STORAGE_FULL if full else responses.STORE_UNAVAILABLE)
        except StoreError:
            log.exception("managesieve %s: store error", self.id)
            self.out.append(responses.STORE_FAILED)
        except Exception:
            log.exception("managesieve %s: internal error", self.id)
            self.out.append(responses.SERVER_ERROR)
            self.closing = True

    async def dispatch(self, command: Command | BadCommand) -> None:
        if isinstance(command, BadCommand):
            self.fail(responses.no(command.reason))
            return
        handler, states = COMMANDS[type(command)]
        if self.state not in states:
            if self.state is State.NOT_AUTHENTICATED:
                raise SieveNo("Authenticate first")
            raise SieveNo("Already authenticated")
        await handler(self, command)

    def fail(self, reply: bytes) -> None:
        """A command that did not parse: answered, and counted."""
        self.out.append(reply)
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            self.out.append(responses.TOO_MANY_ERRORS)
            self.closing = True

    def oversized(self) -> None:
        """The command's literals were past the script size limit; the server skipped them."""
        self.sasl = None
        limit = self.max_script_size
        self.out.append(responses.no(f"A script may have at most {limit} octets", "QUOTA/MAXSIZE"))

    def tls_started(self) -> None:
        """§2.2: after the handshake the server sends its capabilities again."""
        self.env.tls = True
        self.want_tls = False
        self.out.append(self.capability_reply("TLS negotiation successful"))

    async def aclose(self) -> None:
        self.stop_watching()


Handler = Callable[[Session, Any], Awaitable[None]]

NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED})
ANY = NOT_AUTHENTICATED | AUTHENTICATED

# The one command table: command type → (handler, states where it is allowed).
COMMANDS: dict[type[Command], tuple[Handler, frozenset[State]]] = {
    Capability: (login.capability, ANY),
    Noop: (login.noop, ANY),
    Logout: (login.logout, ANY),
    StartTls: (login.starttls, NOT_AUTHENTICATED),
    Authenticate: (login.authenticate, NOT_AUTHENTICATED),
    Unauthenticate: (login.unauthenticate, AUTHENTICATED),
    HaveSpace: (scripts.havespace, AUTHENTICATED),
    PutScript: (scripts.putscript, AUTHENTICATED),
    CheckScript: (scripts.checkscript, AUTHENTICATED),
    ListScripts: (scripts.listscripts, AUTHENTICATED),
    SetActive: (scripts.setactive, AUTHENTICATED),
    GetScript: (scripts.getscript, AUTHENTICATED),
    DeleteScript: (scripts.deletescript, AUTHENTICATED),
    RenameScript: (scripts.renamescript, AUTHENTICATED),
}
