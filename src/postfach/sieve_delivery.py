"""Sieve at local delivery: runs the account's active script (postfach/sieve/)
on each message and turns what it asks for into where the copy goes
(`delivery.Routing`): folders and flags, discard, reject; redirects and vacation
replies run once the copy is stored (sieve_sending.py).

Mail is never lost: a script that does not compile or fails while it runs, or
any other error here, keeps the message in the default folder (the Inbox, or
Spam when the spam check filed it there) with one log line naming the account
and the error (RFC 5228 §2.10.6).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from postfach.context import ServerContext
from postfach.delivery import Routing
from postfach.sieve import Script, SieveError, compile_script
from postfach.sieve.actions import Discard, FileInto, Keep, Outcome, Redirect, Reject, Vacation
from postfach.sieve.interpreter import run
from postfach.sieve.mailview import Envelope, MailView, RunContext
from postfach.sieve_sending import Sending
from postfach.store.errors import AlreadyExists
from postfach.store.records import Account, MailboxId

__all__ = ["SieveFilter"]

log = logging.getLogger(__name__)

_CACHED_SCRIPTS = 256
_SYSTEM_FLAGS = {
    flag.lower(): flag for flag in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
}
_KEYWORD = re.compile(r"[^\s(){%*\"\\\]\x00-\x1f\x7f]+\Z")  # an IMAP atom (RFC 3501 §9)


def imap_flags(flags: frozenset[str]) -> frozenset[str]:
    """The flags IMAP can store: system flags spelt right, keywords that are atoms;
    the rest (\\Recent, unknown system flags, bad keywords) dropped."""
    kept: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            system = _SYSTEM_FLAGS.get(flag.lower())
            if system is not None:
                kept.add(system)
        elif _KEYWORD.match(flag):
            kept.add(flag)
    return frozenset(kept)


class SieveFilter:
    """The `delivery.MailFilter` of the app: one per process."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.sending = Sending(ctx)
        self._scripts: OrderedDict[str, Script] = OrderedDict()

    async def route(
        self,
        account: Account,
        message: bytes,
        sender: str,
        recipient: str,
        default: MailboxId,
        *,
        in_smtp: bool,
        junk: bool = False,
    ) -> Routing | None:
        active = await self.ctx.store.sieve.active_script(account.id)
        if active is None:
            return None
        name, text = active
        try:
            script = self._compiled(text)
            view = MailView(message)
            names: frozenset[str] = frozenset({"INBOX"})
            if "mailbox" in script.requires:  # only mailboxexists asks which folders exist
                folders = await self.ctx.store.mailboxes.list_mailboxes(account.id)
                names = frozenset(folder.name for folder in folders)
            context = RunContext(Envelope(sender, recipient), names)
            outcome = run(script, view, context)
            envelope = (sender, recipient)
            if junk:  # no auto-reply to spam: it would go to forged senders (backscatter)
                outcome.actions = [a for a in outcome.actions if not isinstance(a, Vacation)]
            return await self._carry_out(account, outcome, view, envelope, default, in_smtp)
        except SieveError as exc:
            log.warning(
                "sieve: %s: script %r failed (%s); kept in the default folder",
                account.address, name, exc,
            )  # fmt: skip
        except Exception as exc:  # mail is never lost to the interpreter
            log.exception(
                "sieve: %s: script %r failed (%s: %s); kept in the default folder",
                account.address, name, type(exc).__name__, exc,
            )  # fmt: skip
        return None

    def _compiled(self, text: str) -> Script:
        key = hashlib.sha256(text.encode()).hexdigest()
        script = self._scripts.get(key)
        if script is None:
            script = compile_script(text)
            self._scripts[key] = script
            if len(self._scripts) > _CACHED_SCRIPTS:
                self._scripts.popitem(last=False)
        else:
            self._scripts.move_to_end(key)
        return script

    async def _carry_out(
        self,
        account: Account,
        outcome: Outcome,
        view: MailView,
        envelope: tuple[str, str],
        default: MailboxId,
        in_smtp: bool,
    ) -> Routing:
        sender, recipient = envelope
        targets: dict[MailboxId, frozenset[str]] = {}
        later: list[Callable[[], Awaitable[None]]] = []

        def file(mailbox_id: MailboxId, flags: frozenset[str]) -> None:
            # Filed twice into one folder: one copy, with the flags of both.
            targets[mailbox_id] = targets.get(mailbox_id, frozenset()) | imap_flags(flags)

        for action in outcome.actions:
            if isinstance(action, Keep):
                file(default, action.flags)
            elif isinstance(action, FileInto):
                file(await self._folder(account, action, default), action.flags)
            elif isinstance(action, Reject):
                if in_smtp:
                    return Routing(rejection=action.reason or "rejected by the recipient's rules")
                later.append(self.sending.bouncer(account, view, sender, recipient, action.reason))
            elif isinstance(action, Redirect):
                if await self.sending.may_redirect(account, view, action.address):
                    later.append(self.sending.redirecter(account, view, sender, action.address))
                else:
                    file(default, frozenset())  # not forwarded: kept instead
            elif isinstance(action, Vacation):
                later.append(self.sending.vacationer(account, view, sender, recipient, action))
            else:
                assert isinstance(action, Discard)

        async def after() -> None:
            for step in later:
                await step()

        return Routing(tuple(targets.items()), after=after if later else None)

    async def _folder(self, account: Account, action: FileInto, default: MailboxId) -> MailboxId:
        """The folder fileinto names; made first with :create (RFC 5490 §3.2). One
        that does not exist otherwise: the default folder, and a log line."""
        mailboxes = self.ctx.store.mailboxes
        name = "INBOX" if action.mailbox.upper() == "INBOX" else action.mailbox
        found = await mailboxes.get_mailbox(account.id, name)
        if found is None and action.create:
            try:
                found = await mailboxes.create_mailbox(account.id, name)
            except AlreadyExists:
                found = await mailboxes.get_mailbox(account.id, name)
        if found is None:
            log.warning(
                "sieve: %s: fileinto %r: no such folder; kept in the default folder",
                account.address, name,
            )  # fmt: skip
            return default
        return found.id
