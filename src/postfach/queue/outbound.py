"""Putting mail into the outbound queue, and sending delivery reports (R20, R21).

`enqueue` signs the message with the sending domain's DKIM key and stores it
(durable on return); the store's change hub wakes the queue worker. `send_report` delivers
an RFC 3464 report to a local sender's Inbox, or queues it for a remote one with
the null reverse-path, so a report never causes another report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from postfach import dkim, metrics
from postfach.context import ServerContext
from postfach.message.address import header_from_addresses
from postfach.queue.dsn import ReportRecipient, build_report
from postfach.store.queue import NewQueueRecipient
from postfach.store.records import DeliveryStatus

__all__ = ["enqueue", "send_report"]

log = logging.getLogger(__name__)

_SIGN_IN_THREAD = 64 * 1024


async def dkim_sign(ctx: ServerContext, raw: bytes, sender: str) -> bytes:
    """Signs with the key of the From: domain, else of the envelope sender's domain."""
    candidates = [a.rpartition("@")[2] for a in header_from_addresses(raw)[:1]]
    candidates.append(sender.rpartition("@")[2])
    for name in candidates:
        if not name:
            continue
        domain = await ctx.store.accounts.get_domain(name)
        if domain is not None and domain.dkim_selector and domain.dkim_private_key:
            args = (raw, domain.name, domain.dkim_selector, domain.dkim_private_key)
            if len(raw) > _SIGN_IN_THREAD:
                return await asyncio.to_thread(dkim.sign, *args)
            return dkim.sign(*args)
    return raw


async def enqueue(
    ctx: ServerContext,
    sender: str,
    recipients: Sequence[NewQueueRecipient],
    raw: bytes,
    *,
    envid: str | None = None,
    ret: str | None = None,
    sign: bool = True,
) -> int:
    """Queues `raw` for the remote recipients; durable when it returns."""
    if sign:
        raw = await dkim_sign(ctx, raw, sender)
    # The store publishes ChangeQueued: that wakes the queue worker (QueueWorker._hear_queued).
    message_id = await ctx.store.queue.insert(sender, recipients, raw, envid=envid, ret=ret)
    metrics.delivered("queued", len(recipients))
    return message_id


async def send_report(
    ctx: ServerContext,
    sender: str,
    original: bytes,
    recipients: Sequence[ReportRecipient],
    *,
    envid: str | None = None,
    ret: str | None = None,
    arrival: float | None = None,
) -> None:
    """Sends one report about `recipients` to `sender` (nothing for the null sender)."""
    if not sender or not recipients:
        return
    report = build_report(
        hostname=ctx.hostname,
        to=sender,
        original=original,
        recipients=recipients,
        envid=envid,
        ret=ret,
        arrival=arrival,
    )
    domain = sender.rpartition("@")[2].lower()
    if await ctx.store.accounts.get_domain(domain) is not None:
        statuses = await ctx.delivery.deliver(report, "", [sender])
        if statuses.get(sender) is DeliveryStatus.DELIVERED:
            return
        log.warning("report to %s not delivered: %s", sender, statuses.get(sender))
        return
    await enqueue(ctx, "", [NewQueueRecipient(sender)], report, sign=True)
