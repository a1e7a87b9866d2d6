"""What a Sieve script sends (RFC 5228 §4.2 redirect, RFC 5230 vacation, RFC 5429
reject outside SMTP): built here, then delivered locally or put into the
outbound queue (queue/outbound.py signs it with DKIM).

Forwarding (redirect):
- loops are cut: a message that already carries a Delivered-To of this account
  (it came round again) is kept, not sent on;
- an account sends at most `sieve.redirects_per_hour` (store.sieve counts them);
- the forwarded copy is ARC-sealed (RFC 8617) with the account domain's DKIM key,
  over the Authentication-Results the MX added, so the next hop can trust what
  this server saw of SPF, DKIM and DMARC;
- the envelope sender: kept for mail from our own domains and for bounces (the
  null path); mail from a foreign domain goes out from the forwarding account's
  own address instead. That keeps SPF passing at the next hop, which is what SRS
  is for, without SRS's cost: SRS addresses must be reversed when a bounce comes
  back, i.e. a second address space accepted at RCPT time with its own secret
  and expiry. A bounce of a forwarded message reaches the forwarding user, who
  set up the forward and can act on it, as with the forwarding of the big mail
  providers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from postfach.context import ServerContext
from postfach.queue.dsn import ReportRecipient
from postfach.queue.outbound import enqueue, send_report
from postfach.sieve.actions import Vacation
from postfach.sieve.mailview import MailView, split_address
from postfach.sieve.vacation import build_reply, days_of, handle_of, refusal
from postfach.store.queue import NewQueueRecipient
from postfach.store.records import Account, DeliveryStatus

__all__ = ["REDIRECT_WINDOW", "Sending"]

log = logging.getLogger(__name__)

REDIRECT_WINDOW = 3600.0  # seconds: sieve.redirects_per_hour counts per this window

Step = Callable[[], Awaitable[None]]


class Sending:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def _is_local(self, address: str) -> bool:
        domain = split_address(address)[1].lower()
        return bool(domain) and await self.ctx.store.accounts.get_domain(domain) is not None

    async def _send(self, sender: str, recipient: str, message: bytes) -> None:
        """Into a local Inbox (its owner's Sieve runs too) or into the queue."""
        if await self._is_local(recipient):
            statuses = await self.ctx.delivery.deliver(message, sender, [recipient])
            if statuses.get(recipient) is not DeliveryStatus.DELIVERED:
                log.warning("sieve: to %s not delivered: %s", recipient, statuses.get(recipient))
            return
        await enqueue(self.ctx, sender, [NewQueueRecipient(recipient)], message)

    # -- redirect ------------------------------------------------------------------
    async def may_redirect(self, account: Account, view: MailView, address: str) -> bool:
        """False (with a log line) for a loop or past the account's hourly limit."""
        mine = account.address.lower()
        delivered = [value.lower() for value in view.raw_header_values("Delivered-To")]
        if address.lower() == mine or delivered.count(mine) > 1:
            log.warning("sieve: %s: redirect to %s would loop; kept", account.address, address)
            return False
        limit = self.ctx.config.sieve.redirects_per_hour
        if not await self.ctx.store.sieve.redirect_allowed(account.id, limit, REDIRECT_WINDOW):
            log.warning(
                "sieve: %s: redirect to %s refused: %d redirects this hour (sieve.redirects_"
                "per_hour); kept",
                account.address, address, limit,
            )  # fmt: skip
            return False
        return True

    def redirecter(self, account: Account, view: MailView, sender: str, address: str) -> Step:
        async def send() -> None:
            message = _without_return_path(view.raw)
            message = await self._arc_seal(account, message)
            envelope_from = sender
            if sender and not await self._is_local(sender):
                envelope_from = account.address  # instead of SRS: see the module docstring
            await self._send(envelope_from, address, message)
            log.info("sieve: %s: redirected to %s", account.address, address)

        return send

    async def _arc_seal(self, account: Account, message: bytes) -> bytes:
        domain = await self.ctx.store.accounts.get_domain(split_address(account.address)[1])
        if domain is None or not (domain.dkim_selector and domain.dkim_private_key):
            return message
        # Imported here: dkim and dnspython load only where a redirect is sealed.
        from postfach import dkim

        return dkim.arc_seal(
            message, domain.name, domain.dkim_selector, domain.dkim_private_key, self.ctx.hostname
        )

    # -- vacation ------------------------------------------------------------------
    def vacationer(
        self, account: Account, view: MailView, sender: str, recipient: str, action: Vacation
    ) -> Step:
        async def send() -> None:
            why = refusal(view, sender, (account.address, recipient, *action.addresses))
            if why is not None:
                log.info("sieve: %s: no vacation reply to %r: %s", account.address, sender, why)
                return
            days = days_of(action, self.ctx.config.sieve.vacation_max_days)
            store = self.ctx.store.sieve
            if await store.vacation_seen(account.id, sender, handle_of(action), days):
                log.info("sieve: %s: %s was answered within %d days", account.address, sender, days)
                return
            reply = build_reply(view, action, sender, recipient, self.ctx.hostname)
            await self._send("", sender, reply)  # null path: nothing answers a reply (RFC 3834)
            log.info("sieve: %s: vacation reply to %s", account.address, sender)

        return send

    # -- reject outside an SMTP transaction -----------------------------------------
    def bouncer(
        self, account: Account, view: MailView, sender: str, recipient: str, reason: str
    ) -> Step:
        async def send() -> None:
            if not sender:
                log.info("sieve: %s: rejected a message from the null sender", account.address)
                return
            text = f"550 5.7.1 {reason}".replace("\r", " ").replace("\n", " ").strip()
            failed = ReportRecipient(recipient, "failed", "5.7.1", text)
            await send_report(self.ctx, sender, view.raw, [failed])
            log.info("sieve: %s: rejected a message of %s: %s", account.address, sender, reason)

        return send


def _without_return_path(message: bytes) -> bytes:
    """The copy to forward: Return-Path belongs to the final delivery, not in transit."""
    if message[:12].lower() == b"return-path:":
        return message.partition(b"\n")[2]
    return message
