"""Taking responsibility for a message: local delivery and the outbound queue.

`Acceptance.accept` returns 250 only after every part is durable: local recipients
through `ctx.delivery.deliver` (group-committed), remote ones through the outbound
queue. Mail from the internet is checked first (senderauth.py: SPF, DKIM, ARC, DMARC):
refused (550 5.7.1), deferred (451 4.4.3), filed into Spam (DMARC quarantine) or taken,
with one Authentication-Results header; forged ones carrying our authserv-id go. Then
it gets a spam score (spam/screening.py: X-Spam headers, filed in Spam or refused with
554 5.7.1). Mail a user submits gets a Received line and, when the account asks for
it, a copy in Sent (R10). Local recipients that cannot take the message after all
(over quota) get the sender an RFC 3464 report, unless nobody could take it, in which
case the reply itself says so (552 5.2.2). A recipient's Sieve script may refuse the
message (RFC 5429 reject/ereject): when every local recipient refused it and there
is no remote one, the reply is 550 5.7.1 with the script's reason; otherwise the
refusing recipients get the sender an RFC 3464 report (5.7.1). NOTIFY=SUCCESS on a
local recipient gets a "delivered" report (RFC 3461 §4.1). Each message taken or
refused here is logged, with a line per recipient (maillog.py).
"""

from __future__ import annotations

import email.utils
import functools
import logging
import time

from postfach.context import ServerContext
from postfach.queue.dsn import ReportRecipient
from postfach.queue.outbound import enqueue, send_report
from postfach.smtp import replies
from postfach.smtp.authres import DnsLookup, remove_own_results
from postfach.smtp.dmarc import Action
from postfach.smtp.errors import SmtpError
from postfach.smtp.maillog import MessageFacts, log_accepted, log_refused, message_id, new_id
from postfach.smtp.policy import ListenerRules
from postfach.smtp.senderauth import SenderChecks, SenderVerdict
from postfach.smtp.transaction import Peer, Recipient, Transaction
from postfach.spam.screening import screen
from postfach.spam.verdict import ScanFacts
from postfach.store.api import StoreFull, StoreUnavailable
from postfach.store.queue import NewQueueRecipient
from postfach.store.records import AccountId, DeliveryStatus, SpecialUse

__all__ = ["Acceptance"]

log = logging.getLogger(__name__)


class Acceptance:
    def __init__(self, ctx: ServerContext, rules: ListenerRules) -> None:
        self.ctx = ctx
        self.rules = rules
        dns = ctx.config.dns
        self.checks = SenderChecks(ctx.hostname, DnsLookup(dns.nameservers, dns.timeout))

    async def accept(self, session: Peer, tx: Transaction, raw: bytes) -> replies.Reply:
        """Takes the message; every outcome is logged (maillog.py)."""
        facts = self._facts(session, tx, raw)
        try:
            return await self._take(session, tx, raw, facts)
        except SmtpError as exc:
            log_refused(facts, exc.reply)
            raise

    def _facts(self, session: Peer, tx: Transaction, raw: bytes) -> MessageFacts:
        user = session.account.address if session.account is not None else ""
        return MessageFacts(
            new_id(), tx.sender, len(raw), len(tx.recipients), _protocol(session),
            session.ip, user, message_id(raw),
        )  # fmt: skip

    async def _take(
        self, session: Peer, tx: Transaction, raw: bytes, facts: MessageFacts
    ) -> replies.Reply:
        local = [r for r in tx.recipients if r.local]
        remote = [r for r in tx.recipients if not r.local]
        received = self._received(session, tx)
        queue_id: int | None = None
        junk: frozenset[AccountId] = frozenset()
        try:
            checked = raw
            raw = remove_own_results(raw, self.ctx.hostname)
            if session.account is None and self.rules.mx:
                sender = await self._check_sender(session, tx, checked)
                raw = sender.header + raw
                if local:
                    raw, junk = await self._screen(session, tx, raw, local, sender)
            rejected: dict[str, str] = {}
            failed = (
                await self._deliver_local(tx, local, raw, received, junk, rejected) if local else []
            )
            if remote:
                trace = b"Received: " + received.encode() + b"\r\n"
                queue_id = await self._enqueue(tx, remote, trace + raw)
        except (SmtpError, StoreUnavailable, StoreFull):
            raise  # a fault of the store: the session answers 451 / 452
        except Exception:
            log.exception("%s: accepting a message from %s failed", self.rules.name, session.ip)
            raise SmtpError(replies.TEMP_FAILURE) from None
        if failed and len(failed) == len(local) and not remote:
            if len(rejected) == len(failed):  # every recipient's script refused it
                reason = _one_line(next(iter(rejected.values())))
                raise SmtpError(replies.SIEVE_REJECTED.with_text(reason))
            raise SmtpError(replies.MAILBOX_FULL)
        delivered = [r.address for r in local if r not in failed]
        bounced = [r.address for r in failed]
        mailbox = "Spam" if junk else "INBOX"  # filed in Spam for some or all of them
        log_accepted(facts, delivered, bounced, [r.address for r in remote], queue_id, mailbox)
        await self._after(session, tx, raw, local, failed, rejected)
        return replies.QUEUED

    def _received(self, session: Peer, tx: Transaction) -> str:
        """RFC 5321 §4.4 trace line."""
        date = _date()
        return (
            f"from {session.helo or 'unknown'} ([{session.ip}])\r\n\tby {self.ctx.hostname} "
            f"(postfach) with {_protocol(session)}; {date}"
        )

    async def _check_sender(self, session: Peer, tx: Transaction, raw: bytes) -> SenderVerdict:
        """SPF, DKIM, ARC and DMARC on the message as it came; refuses (550 5.7.1)
        or defers (451 4.4.3) by raising, else says which folder it goes into."""
        verdict = await self.checks.check(session.ip, session.helo, tx.sender, raw)
        decision = verdict.decision
        if decision.action is Action.REJECT:
            raise SmtpError(replies.SENDER_AUTH_REFUSED.with_text(decision.text))
        if decision.action is Action.DEFER:
            raise SmtpError(replies.SENDER_AUTH_DEFERRED.with_text(decision.text))
        if decision.action is Action.QUARANTINE:
            log.info("%s: %s from %s: %s", self.rules.name, tx.sender, session.ip, decision.text)
        return verdict

    async def _screen(
        self,
        session: Peer,
        tx: Transaction,
        raw: bytes,
        local: list[Recipient],
        sender: SenderVerdict,
    ) -> tuple[bytes, frozenset[AccountId]]:
        """Spam scoring (spam/screening.py): refused at DATA, or the message with its
        X-Spam headers and the accounts whose Spam folder takes it (all of them when
        the sender's DMARC policy says quarantine)."""
        accounts = await self.ctx.delivery.accounts_for([r.address for r in local])
        facts = ScanFacts(
            session.ip, session.helo, tx.sender, tuple(r.address for r in local),
            tuple(a.id for a in accounts), authenticated=False,
            auth_results=sender.auth_results, early_talker=session.early_talker,
        )  # fmt: skip
        ctx = self.ctx
        outcome = await screen(ctx.spam, ctx.store.spam, ctx.config.spam, raw, facts)
        if outcome.reject:
            raise SmtpError(replies.SPAM)
        if sender.folder == SpecialUse.JUNK:
            return outcome.raw, frozenset(a.id for a in accounts)
        return outcome.raw, outcome.junk

    async def _deliver_local(
        self,
        tx: Transaction,
        local: list[Recipient],
        raw: bytes,
        received: str,
        junk: frozenset[AccountId] = frozenset(),
        rejected: dict[str, str] | None = None,
    ) -> list[Recipient]:
        """Delivers; returns the recipients that could not take the message (those a
        Sieve script refused among them, with the reasons in `rejected`)."""
        statuses = await self.ctx.delivery.deliver(
            raw, tx.sender, [r.address for r in local], received=received, junk=junk,
            rejected=rejected,
        )  # fmt: skip
        return [r for r in local if statuses.get(r.address) is not DeliveryStatus.DELIVERED]

    async def _enqueue(self, tx: Transaction, remote: list[Recipient], raw: bytes) -> int:
        recipients = [NewQueueRecipient(r.address, r.params.notify, r.params.orcpt) for r in remote]
        return await enqueue(
            self.ctx, tx.sender, recipients, raw, envid=tx.params.envid, ret=tx.params.ret
        )

    async def _after(
        self,
        session: Peer,
        tx: Transaction,
        raw: bytes,
        local: list[Recipient],
        failed: list[Recipient],
        rejected: dict[str, str],
    ) -> None:
        """What follows acceptance and may not fail it: Sent copy and DSNs."""
        try:
            if session.account is not None:
                account = await self.ctx.store.accounts.get_account_by_id(session.account.id)
                if account is not None and account.save_sent:
                    await self.ctx.delivery.save_copy(account, "\\Sent", raw)
            reports = [_report(r, r in failed, rejected.get(r.address)) for r in local]
            wanted = [rep for rep in reports if rep is not None]
            if wanted:
                await send_report(
                    self.ctx,
                    tx.sender,
                    raw,
                    wanted,
                    envid=tx.params.envid,
                    ret=tx.params.ret,
                    arrival=time.time(),
                )
        except Exception:
            log.exception("%s: post-acceptance step failed", self.rules.name)


def _protocol(session: Peer) -> str:
    """The "with" of the trace line, per RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA)."""
    protocol = "ESMTP" if session.extended else "SMTP"
    if session.tls:
        protocol += "S"
    if session.account is not None:
        protocol += "A"
    return protocol


def _date() -> str:
    """RFC 5322 date of now; made once a second, not once a message."""
    return _date_at(int(time.time()))


@functools.lru_cache(maxsize=2)
def _date_at(second: int) -> str:
    return email.utils.formatdate(second, localtime=True)


def _one_line(text: str) -> str:
    """A script's reason as one line of ASCII, fit for a reply and a report."""
    line = " ".join(text.split()).encode("ascii", "replace").decode("ascii")
    return line[:400] or "rejected by the recipient's rules"


def _report(
    recipient: Recipient, failed: bool, rejection: str | None = None
) -> ReportRecipient | None:
    notify = recipient.params.notify
    orcpt = recipient.params.orcpt
    if rejection is not None:  # a Sieve reject after the reply (RFC 5429 §2.1)
        if notify is not None and "FAILURE" not in notify:
            return None
        diagnostic = f"550 5.7.1 {_one_line(rejection)}"
        return ReportRecipient(recipient.address, "failed", "5.7.1", diagnostic, orcpt=orcpt)
    if failed and (notify is None or "FAILURE" in notify):
        return ReportRecipient(
            recipient.address, "failed", "5.2.2", "552 5.2.2 Mailbox full", orcpt=orcpt
        )
    if not failed and notify and "SUCCESS" in notify:
        return ReportRecipient(recipient.address, "delivered", "2.0.0", "", orcpt=orcpt)
    return None
