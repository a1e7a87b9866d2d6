"""One SMTP session: state, the command table, and the one place errors are caught.

States (RFC 5321 §4.1.4): START until EHLO/HELO, READY between transactions,
MAIL after a sender, RCPT once a recipient was accepted. `COMMANDS` says which
handler runs a command and in which states it is allowed; everything else gets
the matching 503. Handlers return a `Reply` or raise `SmtpError`; `run()` turns
any other exception into `421 4.3.0` without echoing internals.

Invariants: a message is acknowledged with 250 only after the delivery layer or
the outbound queue has it durably (acceptance.py); AUTH secrets are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from postfach import metrics
from postfach.auth import AuthFailure
from postfach.auth.sasl import Challenge, Failure, FailureKind, SaslExchange
from postfach.message.address import header_from_addresses
from postfach.net.tls import HANDSHAKE_ERRORS, handshake_failed
from postfach.smtp import policy, replies
from postfach.smtp.burl import BURL_OK, burl_content
from postfach.smtp.commands import (
    Auth,
    Bdat,
    Burl,
    Command,
    Data,
    Helo,
    Help,
    Mail,
    Noop,
    Quit,
    Rcpt,
    Rset,
    StartTls,
    Vrfy,
)
from postfach.smtp.data import finish_content, normalize_newlines
from postfach.smtp.errors import CloseSession, SmtpError
from postfach.smtp.parser import parse_command
from postfach.smtp.transaction import Recipient, Transaction
from postfach.smtp.wire import Wire
from postfach.store import faults
from postfach.store.api import StoreFull, StoreUnavailable
from postfach.store.events import ChangeCredentials
from postfach.store.records import Account

if TYPE_CHECKING:
    from postfach.net.lines import LoginDeadline
    from postfach.smtp.service import SmtpService

__all__ = ["COMMANDS", "Recipient", "Session", "State", "Transaction"]

log = logging.getLogger(__name__)


class State(enum.Enum):
    START = "start"
    READY = "ready"
    MAIL = "mail"
    RCPT = "rcpt"


ANY = frozenset(State)
GREETED = frozenset({State.READY, State.MAIL, State.RCPT})
OUTSIDE = frozenset({State.START, State.READY})


class Session:
    def __init__(self, service: SmtpService, wire: Wire, ip: str, deadline: LoginDeadline) -> None:
        self.service = service
        self.wire = wire
        self.ip = ip
        self.deadline = deadline  # until MAIL FROM or AUTH (limits.smtp_preauth_timeout)
        self.helo = ""
        self.extended = False
        self.state = State.START
        self.tx: Transaction | None = None
        self.account: Account | None = None
        self.owned: frozenset[str] | None = None  # addresses the account may send as
        self.errors = 0
        self.junk = 0
        self.early_talker = False  # spoke before the greeting (spam.greet_pause)
        self._watcher: asyncio.Task[None] | None = None

    @property
    def rules(self) -> policy.ListenerRules:
        return self.service.rules

    @property
    def tls(self) -> bool:
        return self.wire.tls

    # -- the loop ------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._greet()
            while True:
                reply = await self.step()
                if self.tx is not None or self.account is not None:
                    self.deadline.passed()
                if reply is not _NO_REPLY:
                    self.wire.send(reply)
                if reply.closes:
                    break
        except CloseSession as exc:
            self.wire.send(exc.reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:
            log.exception("%s: SMTP session from %s failed", self.rules.name, self.ip)
            self.wire.send(replies.INTERNAL_ERROR)
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
            with contextlib.suppress(Exception):
                await self.wire.flush()
            self.wire.close()

    async def _greet(self) -> None:
        """The 220; with `spam.greet_pause` on the MX, its first line goes out at once
        and the last after the pause: a client that speaks in between does not wait
        for the greeting as RFC 5321 §4.3.1 wants (spam engines do that)."""
        pause = self.service.greet_pause
        if pause:
            self.wire.send_raw(b"220-" + self.service.hostname.encode() + b" ESMTP postfach\r\n")
            self.early_talker = await self.wire.talks_within(pause)
        self.wire.send(self.service.greeting)

    async def step(self) -> replies.Reply:
        """Reads, parses and runs one command; command errors become replies here."""
        command: Command | None = None
        try:
            line = await self.wire.readline()
            metrics.command("smtp")
            command = parse_command(line)
            return await self.dispatch(command)
        except CloseSession:
            raise
        except (StoreUnavailable, StoreFull) as exc:
            return self.store_fault(command, exc)
        except SmtpError as exc:
            if isinstance(command, Bdat | Burl) and exc.reply is not replies.TOO_BIG:
                self.reset()  # RFC 3030 §2: a failed chunk fails the transaction
            self.errors += 1
            if self.errors >= policy.MAX_ERRORS:
                raise CloseSession(replies.TOO_MANY_ERRORS) from None
            return exc.reply

    def store_fault(
        self, command: Command | None, exc: StoreUnavailable | StoreFull
    ) -> replies.Reply:
        """The store is down or full: a 4xx for this command, and the session goes
        on (the fault is the server's, so it does not count against the client)."""
        faults.report(exc, f"{self.rules.name}: SMTP session from {self.ip}")
        if isinstance(command, Bdat):
            self.reset()  # RFC 3030 §2: a failed chunk fails the transaction
        if isinstance(command, Auth):
            return replies.AUTH_TEMP_FAILURE  # RFC 4954 §6
        if isinstance(exc, StoreFull):
            return replies.STORAGE_FULL
        return replies.STORE_UNAVAILABLE

    async def dispatch(self, command: Command) -> replies.Reply:
        handler, states = COMMANDS[type(command)]
        if self.state not in states:
            if isinstance(command, Bdat):
                await self.wire.read_exact(command.size, keep=False)
            raise SmtpError(state_error(self.state, command))
        if isinstance(command, _JUNK):
            self.junk += 1
            if self.junk > policy.MAX_JUNK_COMMANDS:
                raise CloseSession(replies.TOO_MANY_COMMANDS)
        return await handler(self, command)

    def reset(self) -> None:
        self.tx = None
        if self.state is not State.START:
            self.state = State.READY

    # -- simple commands -----------------------------------------------------------
    async def do_helo(self, command: Helo) -> replies.Reply:
        self.helo, self.extended = command.domain, command.extended
        self.reset()
        self.state = State.READY
        if not command.extended:
            return replies.Reply(250, "", f"{self.service.hostname}")
        return self.service.ehlo_reply(self.helo, self.ehlo_keywords())

    def ehlo_keywords(self) -> tuple[str, ...]:
        """RFC 5321 §4.1.1.1; each extension's RFC is named beside its keyword."""
        lines = [
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
        ]  # 2920 6152 6531 2034
        lines += [
            f"SIZE {self.service.max_size}",
            "DSN",
            "CHUNKING",
            "BINARYMIME",
        ]  # 1870 3461 3030
        if self.rules.starttls and not self.wire.tls:
            lines.append("STARTTLS")  # RFC 3207
        if self.account is None and policy.auth_refusal(self.rules, self.wire.tls) is None:
            lines.append("AUTH PLAIN LOGIN")  # RFC 4954
        if self.account is not None:
            lines.append("BURL imap")  # RFC 4468, for a user who can make URLAUTH URLs
        return tuple(lines)

    async def do_noop(self, command: Noop) -> replies.Reply:
        return replies.OK

    async def do_rset(self, command: Rset) -> replies.Reply:
        self.reset()
        return replies.RESET_OK

    async def do_quit(self, command: Quit) -> replies.Reply:
        return replies.BYE

    async def do_vrfy(self, command: Vrfy) -> replies.Reply:
        return replies.CANNOT_VRFY  # RFC 5321 §3.5.3: no address harvesting

    async def do_help(self, command: Help) -> replies.Reply:
        return replies.HELP

    async def do_starttls(self, command: StartTls) -> replies.Reply:
        if self.wire.tls:
            raise SmtpError(replies.TLS_ACTIVE)
        if not self.rules.starttls:
            raise SmtpError(replies.TLS_NOT_AVAILABLE)
        self.wire.send(replies.READY_TLS)
        try:
            await self.wire.start_tls(self.service.ctx.ssl_context)
        except HANDSHAKE_ERRORS as exc:
            handshake_failed(self.rules.name, self.ip, exc)
            raise ConnectionResetError("TLS handshake failed") from exc
        # RFC 3207 §4.2: forget everything learned before TLS.
        self.helo, self.state, self.tx = "", State.START, None
        return _NO_REPLY

    # -- AUTH (RFC 4954) -------------------------------------------------------------
    async def do_auth(self, command: Auth) -> replies.Reply:
        if self.account is not None:
            raise SmtpError(replies.ALREADY_AUTHENTICATED)
        refusal = policy.auth_refusal(self.rules, self.wire.tls)
        if refusal is not None:
            raise SmtpError(refusal)
        exchange = SaslExchange(command.mechanism)
        step = exchange.start(_initial_response(command))
        while isinstance(step, Challenge):
            self.wire.send_raw(b"334 " + step.encoded + b"\r\n")
            step = exchange.respond((await self.wire.readline()).strip())
        if isinstance(step, Failure):
            raise SmtpError(_SASL_FAILURES[step.kind])
        if step.authzid and step.authzid.lower() != step.authcid.lower():
            raise SmtpError(replies.BAD_CREDENTIALS)  # no acting for others
        return await self._authenticate(step.authcid, step.password)

    async def _authenticate(self, user: str, secret: str) -> replies.Reply:
        ctx = self.service.ctx
        result = await ctx.auth.authenticate(user, secret, "smtp", self.ip)
        if not result.ok or result.account is None:
            if result.failure is AuthFailure.THROTTLED:
                raise SmtpError(replies.AUTH_THROTTLED)
            if result.failure is AuthFailure.APP_PASSWORD_REQUIRED:
                raise SmtpError(replies.APP_PASSWORD_REQUIRED)
            raise SmtpError(replies.BAD_CREDENTIALS)
        account = result.account
        aliases = await ctx.store.accounts.aliases_for(account.id)
        self.account = account
        self.owned = frozenset(a.lower() for a in [account.address, *aliases])
        self._watcher = asyncio.get_running_loop().create_task(self._watch_credentials(account))
        return replies.AUTH_OK

    async def _watch_credentials(self, account: Account) -> None:
        """R4: "log out on all devices" ends this session with a 421."""
        with self.service.ctx.store.hub.watch(account.id) as changes:
            while True:
                change = await changes.get()
                if isinstance(change, ChangeCredentials) and change.logout:
                    break
        self.wire.send(replies.LOGGED_OUT)
        with contextlib.suppress(Exception):
            await self.wire.flush()
        self.wire.writer.transport.abort()

    # -- the transaction -------------------------------------------------------------
    async def do_mail(self, command: Mail) -> replies.Reply:
        _refuse(policy.mail_refusal(self.rules, self.account is not None))
        _refuse(policy.check_size(command.params.size, self.service.max_size))
        if not command.address.isascii() and not command.params.smtputf8:
            raise SmtpError(replies.NEED_SMTPUTF8)
        _refuse(policy.check_sender(command.address, self.owned))
        if self.account is None and self.rules.mx:
            await self._check_own_domain([command.address])
        self.tx = Transaction(command.address, command.params)
        self.state = State.MAIL
        return replies.SENDER_OK

    async def do_rcpt(self, command: Rcpt) -> replies.Reply:
        assert self.tx is not None
        tx = self.tx
        _refuse(policy.check_recipient_count(len(tx.recipients), self.service.max_recipients))
        if not command.address.isascii() and not tx.params.smtputf8:
            raise SmtpError(replies.NEED_SMTPUTF8)
        address = await self.service.canonical_recipient(command.address)
        local = await self.service.is_local_domain(address.rpartition("@")[2])
        _refuse(policy.check_route(self.rules, self.account is not None, local))
        if local:
            accounts = await self.service.resolve(address)
            if not accounts:
                raise SmtpError(replies.UNKNOWN_USER)
            _refuse(policy.check_quota(accounts, tx.params.size))
            if self.rules.mx and self.account is None and self.service.mx_checks.active:
                _refuse(await self.service.mx_checks.refusal(self.ip, tx.sender, address))
        tx.recipients.append(Recipient(address, command.params, local))
        self.state = State.RCPT
        return replies.RECIPIENT_OK

    async def do_data(self, command: Data) -> replies.Reply:
        assert self.tx is not None
        if self.tx.chunks or self.tx.chunk_size:
            raise SmtpError(replies.BDAT_THEN_DATA)
        if self.tx.params.body == "BINARYMIME":
            raise SmtpError(replies.BINARY_NEEDS_BDAT)
        self.wire.send(replies.START_DATA)
        collected = await self.wire.read_data(self.service.max_size)
        try:
            if collected.too_big:
                raise SmtpError(replies.TOO_BIG)
            return await self._accept(finish_content(collected.content()))
        finally:
            self.reset()

    async def do_bdat(self, command: Bdat) -> replies.Reply:
        tx = self.tx
        assert tx is not None
        tx.chunk_size += command.size
        too_big = tx.chunk_size > self.service.max_size
        chunk = await self.wire.read_exact(command.size, keep=not too_big)
        if too_big:
            self.reset()
            raise SmtpError(replies.TOO_BIG)
        tx.chunks.append(chunk)
        if not command.last:
            return replies.BDAT_OK
        return await self._accept_chunks()

    async def do_burl(self, command: Burl) -> replies.Reply:
        """RFC 4468: the URL's content joins the message as a BDAT chunk would."""
        tx = self.tx
        assert tx is not None
        data = await burl_content(self.service, self.account, command.url)
        tx.chunk_size += len(data)
        if tx.chunk_size > self.service.max_size:
            self.reset()
            raise SmtpError(replies.TOO_BIG)
        tx.chunks.append(data)
        if not command.last:
            return BURL_OK
        return await self._accept_chunks()

    async def _accept_chunks(self) -> replies.Reply:
        """The BDAT/BURL chunks, complete: the message goes to acceptance."""
        assert self.tx is not None
        raw = b"".join(self.tx.chunks)
        try:
            if self.tx.params.body != "BINARYMIME":
                raw = normalize_newlines(raw)
            return await self._accept(raw)
        finally:
            self.reset()

    async def _accept(self, raw: bytes) -> replies.Reply:
        assert self.tx is not None
        _refuse(policy.check_nul(raw, self.tx.params.body == "BINARYMIME"))
        if policy.is_spam(raw):
            raise SmtpError(replies.SPAM)
        _refuse(policy.check_header_from(raw, self.owned))
        if self.account is None and self.rules.mx:
            await self._check_own_domain(header_from_addresses(raw))
        return await self.service.acceptance.accept(self, self.tx, raw)

    async def _check_own_domain(self, addresses: list[str]) -> None:
        """Strangers on the MX may not speak for our own domains (issue 16)."""
        if any(addresses):
            allowed = self.service.ctx.config.mx.allow_unauthenticated_own_domains
            local = await self.service.local_domains()
            _refuse(policy.check_own_domain(addresses, local, _lowered(allowed)))


_NO_REPLY = replies.Reply(0, "", "")
# Commands that move no mail: counted against policy.MAX_JUNK_COMMANDS.
_JUNK = (Helo, Noop, Rset, Vrfy, Help, StartTls, Auth)


def _lowered(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.lower().rstrip(".") for d in domains)


def _refuse(reply: replies.Reply | None) -> None:
    if reply is not None:
        raise SmtpError(reply)


def _initial_response(command: Auth) -> bytes | None:
    """RFC 4954 §4: "=" is an empty initial response (taken so for PLAIN only, as before)."""
    if command.initial is None:
        return None
    if command.initial == "=" and command.mechanism == "PLAIN":
        return b""
    return command.initial.encode("ascii", "replace")


_SASL_FAILURES = {
    FailureKind.BAD_BASE64: replies.AUTH_MALFORMED,
    FailureKind.MALFORMED: replies.AUTH_MALFORMED,
    FailureKind.CANCELLED: replies.AUTH_CANCELLED,
    FailureKind.UNSUPPORTED: replies.UNKNOWN_MECHANISM,
}


def state_error(state: State, command: Command) -> replies.Reply:
    """The 503 (or 554) for a command sent in the wrong state (RFC 5321 §4.1.4)."""
    if state is State.START:
        return replies.NEED_HELO
    if isinstance(command, Mail):
        return replies.NESTED_MAIL
    if isinstance(command, Rcpt):
        return replies.NEED_MAIL
    if isinstance(command, Data | Bdat | Burl):
        return replies.NO_VALID_RECIPIENTS if state is State.MAIL else replies.NEED_MAIL
    return replies.IN_TRANSACTION


Handler = Callable[[Session, Any], Awaitable[replies.Reply]]

# The command table: handler and the states that allow it, declared once.
COMMANDS: dict[type[Any], tuple[Handler, frozenset[State]]] = {
    Helo: (Session.do_helo, ANY),
    Noop: (Session.do_noop, ANY),
    Rset: (Session.do_rset, ANY),
    Quit: (Session.do_quit, ANY),
    Vrfy: (Session.do_vrfy, ANY),
    Help: (Session.do_help, ANY),
    StartTls: (Session.do_starttls, OUTSIDE),
    Auth: (Session.do_auth, frozenset({State.READY})),
    Mail: (Session.do_mail, frozenset({State.READY})),
    Rcpt: (Session.do_rcpt, frozenset({State.MAIL, State.RCPT})),
    Data: (Session.do_data, frozenset({State.RCPT})),
    Bdat: (Session.do_bdat, frozenset({State.RCPT})),
    Burl: (Session.do_burl, frozenset({State.RCPT})),
}
