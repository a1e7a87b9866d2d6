"""What a ManageSieve conversation knows between commands, shared by its handlers.

`Conversation` holds the connection's facts (`SessionEnv`), the state of RFC
5804 (before and after AUTHENTICATE), the replies collected for the wire and
the capability list (§1.7), which depends on all of them. The handlers
(`login`, `scripts`) change it only through its fields and methods; `session`
puts the command table on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from postfach.auth.sasl import SaslExchange
from postfach.context import ServerContext
from postfach.managesieve import responses
from postfach.sieve import SUPPORTED_EXTENSIONS
from postfach.sieve.interpreter import MAX_ACTIONS
from postfach.store.events import Change, ChangeCredentials
from postfach.store.records import Account

__all__ = ["IMPLEMENTATION", "MAX_REDIRECTS", "Conversation", "SessionEnv", "State"]

log = logging.getLogger("postfach.managesieve")

IMPLEMENTATION = "postfach"
# §1.7 MAXREDIRECTS: redirects one run of a script may make. The interpreter bounds
# all actions of a run, redirects among them, by MAX_ACTIONS; a redirect past the
# account's hourly budget (sieve.redirects_per_hour) keeps the message instead.
MAX_REDIRECTS = MAX_ACTIONS


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"


@dataclass(slots=True)
class SessionEnv:
    """What the server tells the session about its connection."""

    ctx: ServerContext
    listener: str
    ip: str
    tls: bool
    close: Callable[[], None]  # ends the connection now ("log out everywhere")


class Conversation:
    """One client's state; replies go to `out`, the server sends them."""

    def __init__(self, env: SessionEnv, session_id: str) -> None:
        self.env = env
        self.ctx = env.ctx
        self.id = session_id
        self.state = State.NOT_AUTHENTICATED
        self.out: list[bytes] = []
        self.closing = False
        self.want_tls = False
        self.sasl: SaslExchange | None = None  # while AUTHENTICATE waits for a response
        self.account: Account | None = None
        self._stack = contextlib.ExitStack()
        self._watcher: asyncio.Task[None] | None = None

    # -- what the client may do ------------------------------------------------------
    @property
    def login_allowed(self) -> bool:
        """PLAIN over TLS, or in the clear when the operator allows it (as IMAP's
        LOGINDISABLED)."""
        return self.env.tls or self.ctx.config.auth.allow_plaintext

    @property
    def starttls_offered(self) -> bool:
        return not self.env.tls and self.state is State.NOT_AUTHENTICATED

    @property
    def max_script_size(self) -> int:
        return self.ctx.config.limits.sieve_max_script_size

    @property
    def max_scripts(self) -> int:
        return self.ctx.config.limits.sieve_max_scripts

    def capabilities(self) -> list[bytes]:
        """§1.7: one line per capability, each name and value a string."""
        authenticated = self.state is State.AUTHENTICATED
        mechanisms = "PLAIN" if self.login_allowed and not authenticated else ""
        pairs: list[tuple[str, str | None]] = [
            ("IMPLEMENTATION", IMPLEMENTATION),
            ("SASL", mechanisms),
            ("SIEVE", " ".join(SUPPORTED_EXTENSIONS)),
        ]
        if self.starttls_offered:
            pairs.append(("STARTTLS", None))
        pairs.append(("MAXREDIRECTS", str(MAX_REDIRECTS)))
        if "enotify" in SUPPORTED_EXTENSIONS:
            pairs.append(("NOTIFY", "mailto"))
        if authenticated and self.account is not None:
            pairs.append(("OWNER", self.account.address))
        pairs += [("UNAUTHENTICATE", None), ("VERSION", "1.0")]
        return [
            responses.string(name) + (b"" if value is None else b" " + responses.string(value))
            for name, value in pairs
        ]

    def capability_reply(self, text: str) -> bytes:
        return b"".join(line + b"\r\n" for line in self.capabilities()) + responses.ok(text)

    # -- logging in and out ----------------------------------------------------------
    def logged_in(self, account: Account) -> None:
        self.account = account
        self.state = State.AUTHENTICATED
        queue = self._stack.enter_context(self.ctx.store.hub.watch(account.id))
        self._watcher = asyncio.create_task(self._watch(queue))

    def logged_out(self) -> None:
        """UNAUTHENTICATE (§2.14.1): back to the greeting's state, TLS kept."""
        self.stop_watching()
        self.account = None
        self.state = State.NOT_AUTHENTICATED

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        self._stack.close()
        self._stack = contextlib.ExitStack()

    async def _watch(self, queue: asyncio.Queue[Change]) -> None:
        """R4: "log out on all devices" ends this session at once."""
        while True:
            change = await queue.get()
            if isinstance(change, ChangeCredentials) and change.logout:
                log.info("managesieve %s: logged out everywhere; closing", self.id)
                self.closing = True
                self.env.close()
                return
