"""Mail a signed-in user sends from the web pages: the submission path, minus SMTP.

The rules are the submission listener's, with its words: the sender must be the
account's address or one of its aliases (`553 5.7.1 Sender address rejected:
not owned by auth user`), a recipient at one of our domains must exist
(`550 5.1.1`), at most `limits.max_recipients` recipients and
`limits.max_message_size` octets. Local recipients get the message through
`ctx.delivery` (their Sieve rules and all), remote ones through the outbound
queue (DKIM-signed there), and a copy is filed in Sent; `send` returns once all
of that is durable. Nothing here knows HTTP: the web pages call it, and so may
anything else that sends for a signed-in user.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from postfach.context import ServerContext
from postfach.mailing.addresses import AddressError, normalize_address
from postfach.queue.outbound import enqueue
from postfach.store.queue import NewQueueRecipient
from postfach.store.records import Account, DeliveryStatus

__all__ = ["SendRefused", "Sent", "own_addresses", "send"]


class SendRefused(Exception):
    """The message was not sent; the text says why, as the SMTP server would."""


@dataclass(frozen=True, slots=True)
class Sent:
    delivered: tuple[str, ...]  # local recipients
    queued: tuple[str, ...]  # remote recipients, in the outbound queue
    queue_id: int | None


async def own_addresses(ctx: ServerContext, account: Account) -> list[str]:
    """The addresses the account may send as: its own, then its aliases."""
    aliases = await ctx.store.accounts.aliases_for(account.id)
    return [account.address, *sorted(a for a in aliases if a != account.address)]


async def send(
    ctx: ServerContext,
    account: Account,
    sender: str,
    recipients: list[str],
    raw: bytes,
    *,
    client_ip: str,
) -> Sent:
    """Delivers, queues and files the copy in Sent; raises SendRefused before any
    of it when a rule of the submission path says no."""
    if sender.lower() not in {a.lower() for a in await own_addresses(ctx, account)}:
        raise SendRefused("553 5.7.1 Sender address rejected: not owned by auth user")
    limits = ctx.config.limits
    if not recipients:
        raise SendRefused("554 5.5.1 No valid recipients")
    if len(recipients) > limits.max_recipients:
        raise SendRefused(f"452 4.5.3 Too many recipients (at most {limits.max_recipients})")
    if len(raw) > limits.max_message_size:
        raise SendRefused(
            f"552 5.3.4 Message size exceeds fixed maximum message size ({limits.max_message_size})"
        )
    domains = {d.name.lower() for d in await ctx.store.accounts.list_domains()}
    local: list[str] = []
    remote: list[str] = []
    for text in dict.fromkeys(recipients):
        try:
            address = normalize_address(text)
        except AddressError as exc:
            raise SendRefused(f"501 5.1.3 Bad recipient address syntax: {text} ({exc})") from None
        if address.rpartition("@")[2].lower() in domains:
            if not await ctx.delivery.accounts_for([address]):
                raise SendRefused(
                    f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                )
            local.append(address)
        else:
            remote.append(address)
    received = (
        f"from [{client_ip}]\r\n\tby {ctx.hostname} (postfach) with HTTP (webmail, "
        f"authenticated as {account.address}); {email.utils.formatdate(localtime=True)}"
    )
    delivered: list[str] = []
    if local:
        statuses = await ctx.delivery.deliver(raw, sender, local, received=received)
        delivered = [a for a in local if statuses.get(a) is DeliveryStatus.DELIVERED]
    queue_id = None
    if remote:
        trace = b"Received: " + received.encode() + b"\r\n"
        queue_id = await enqueue(
            ctx, sender, [NewQueueRecipient(a, None, None) for a in remote], trace + raw
        )
    await ctx.delivery.save_copy(account, "\\Sent", raw)
    return Sent(tuple(delivered), tuple(remote), queue_id)
