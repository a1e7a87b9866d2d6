"""Local delivery: aliases resolved, trace headers added, durable on return.

`deliver()` returns only when the message is committed to disk. Concurrent
deliveries share one transaction and one fsync (group commit): a single writer
task takes everything queued while the previous commit was running and commits
it together, so throughput grows with concurrency instead of with fsync speed.

Each account's copy goes where its filter says (`MailFilter`: the account's
Sieve script, sieve_delivery.py): into folders with flags, nowhere (discard),
or refused (reject); without a filter, or when the filter fails, into the
default folder (the Inbox, or Spam for the accounts in `junk`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from postfach import metrics
from postfach.recipients import RecipientCache
from postfach.store import (
    NewMessage,
    OverQuota,
    Store,
    StoreError,
    StoreFull,
    StoreUnavailable,
    faults,
)
from postfach.store.blobs import prepare_blob_off_loop
from postfach.store.records import (
    Account,
    AccountId,
    DeliveryStatus,
    MailboxId,
    SpecialUse,
    Uid,
)

__all__ = ["Delivery", "MailFilter", "Routing", "trace_headers"]

log = logging.getLogger(__name__)

_MAX_BATCH = 512


def trace_headers(sender: str, recipient: str, received: str) -> bytes:
    """Return-Path, Delivered-To and Received as an MTA puts them at final delivery."""
    lines = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\nReceived: {received}\r\n"
    return lines.encode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Routing:
    """Where one account's copy goes: folders with their flags (none: discarded),
    or refused with `rejection` (a Sieve reject during the SMTP transaction).
    `after` runs once the copies are stored (redirects, vacation replies)."""

    targets: tuple[tuple[MailboxId, frozenset[str]], ...] = ()
    rejection: str = ""
    after: Callable[[], Awaitable[None]] | None = None


class MailFilter(Protocol):
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
        """Where `message` (trace headers included) goes for `account`, reached
        through `recipient`; None: the default folder (Spam when `junk`: the spam
        check or DMARC filed it there). Never raises."""


@dataclass(slots=True)
class _Job:
    item: NewMessage
    future: asyncio.Future[Uid | StoreError] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Delivery:
    def __init__(self, store: Store, hostname: str, postmaster: str = "") -> None:
        self._store = store
        self._hostname = hostname
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._inboxes: dict[AccountId, MailboxId] = {}
        self._date: tuple[int, str] = (0, "")  # the Received line's date, and its second
        # Only addresses that exist are kept: a new account receives mail at once.
        self._recipients = RecipientCache(store, keep=bool, postmaster=postmaster)
        self.filter: MailFilter | None = None  # set by the app: Sieve (sieve_delivery.py)

    async def stop(self) -> None:
        if self._writer is not None:
            # Let what is queued commit before the writer goes.
            while not self._queue.empty():
                await asyncio.sleep(0.01)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def deliver(
        self,
        raw: bytes,
        sender: str,
        recipients: list[str],
        *,
        received: str | None = None,
        junk: frozenset[AccountId] = frozenset(),
        rejected: dict[str, str] | None = None,
    ) -> dict[str, DeliveryStatus]:
        """Delivers to each recipient's INBOX (to its Spam folder for the accounts in
        `junk`), or where its Sieve script files it; returns a status per recipient.
        Within an SMTP transaction the caller passes `rejected`: the recipients a
        script refused are REJECTED and their reasons land there. Without it, a
        refusal is a bounce to the sender (the filter sends it) and DELIVERED."""
        statuses: dict[str, DeliveryStatus] = {}
        targets: dict[AccountId, Account] = {}
        reaches: dict[str, list[AccountId]] = {}
        reached_by: dict[AccountId, str] = {}
        for recipient in recipients:
            resolved = await self._recipients.resolve(recipient)
            if not resolved:
                statuses[recipient] = DeliveryStatus.UNKNOWN_USER
                continue
            reaches[recipient] = [account.id for account in resolved]
            for account in resolved:
                targets.setdefault(account.id, account)
                reached_by.setdefault(account.id, recipient)
        if not targets:
            return statuses
        blob = await prepare_blob_off_loop(raw)
        received = received or self._received_line()
        jobs: dict[AccountId, list[_Job]] = {}
        routings: dict[AccountId, Routing] = {}
        for account in targets.values():
            folder = await self._folder(account.id, account.id in junk)
            prefix = trace_headers(sender, account.address, received)
            routing = await self._route(
                account,
                prefix + raw,
                (sender, reached_by[account.id]),
                folder,
                in_smtp=rejected is not None,
                junk=account.id in junk,
            )
            routings[account.id] = routing
            jobs[account.id] = [
                self._submit(NewMessage(mailbox_id, blob, prefix, flags))
                for mailbox_id, flags in routing.targets
            ]
        outcome: dict[AccountId, DeliveryStatus] = {}
        for account_id, account_jobs in jobs.items():
            if routings[account_id].rejection:
                outcome[account_id] = DeliveryStatus.REJECTED
                continue
            results = {_status(await job.future) for job in account_jobs}
            outcome[account_id] = min(results, default=DeliveryStatus.DELIVERED, key=_severity)
        stored = sum(status is DeliveryStatus.DELIVERED for status in outcome.values())
        if stored:
            metrics.delivered("local", stored)
        for recipient, account_ids in reaches.items():
            # One copy per account, however many of the recipients lead to it; a
            # recipient that fans out counts as delivered if any account got it.
            results = {outcome[a] for a in account_ids}
            delivered = DeliveryStatus.DELIVERED in results
            statuses[recipient] = DeliveryStatus.DELIVERED if delivered else results.pop()
            if statuses[recipient] is DeliveryStatus.REJECTED and rejected is not None:
                rejected[recipient] = next(routings[a].rejection for a in account_ids)
        await self._after(routings, outcome)
        return statuses

    async def _route(
        self,
        account: Account,
        message: bytes,
        envelope: tuple[str, str],
        folder: MailboxId,
        *,
        in_smtp: bool,
        junk: bool,
    ) -> Routing:
        default = Routing(((folder, frozenset()),))
        if self.filter is None:
            return default
        sender, recipient = envelope
        try:
            routing = await self.filter.route(
                account, message, sender, recipient, folder, in_smtp=in_smtp, junk=junk
            )
        except Exception:  # mail is never lost to a filter: it keeps the message
            log.exception("filtering for %s failed; kept in the default folder", account.address)
            return default
        return default if routing is None else routing

    async def _after(
        self, routings: dict[AccountId, Routing], outcome: dict[AccountId, DeliveryStatus]
    ) -> None:
        """The filters' redirects and replies, for the copies that were stored."""
        for account_id, routing in routings.items():
            if routing.after is None or outcome[account_id] is not DeliveryStatus.DELIVERED:
                continue
            try:
                await routing.after()
            except (StoreUnavailable, StoreFull) as exc:
                faults.report(exc, "sieve actions after delivery")
            except Exception:
                log.exception("sieve actions after delivery to account #%d failed", account_id)

    async def accounts_for(self, recipients: list[str]) -> list[Account]:
        """The accounts the recipients reach, each once (aliases resolved)."""
        found: dict[AccountId, Account] = {}
        for recipient in recipients:
            for account in await self._recipients.resolve(recipient):
                found.setdefault(account.id, account)
        return list(found.values())

    async def save_copy(
        self,
        account: Account,
        folder: str,
        raw: bytes,
        flags: frozenset[str] = frozenset({"\\Seen"}),
    ) -> Uid:
        """Saves `raw` into a folder named by special use ("\\Sent") or by name."""
        if folder.startswith("\\"):
            mailbox = await self._store.mailboxes.special_mailbox(account.id, folder)
        else:
            mailbox = await self._store.mailboxes.get_mailbox(account.id, folder)
        if mailbox is None:
            raise StoreError(f"{account.address} has no folder {folder}")
        job = self._submit(NewMessage(mailbox.id, await prepare_blob_off_loop(raw), b"", flags))
        result = await job.future
        if isinstance(result, StoreError):
            raise result
        return result

    def _received_line(self) -> str:
        now = int(time.time())
        if now != self._date[0]:  # formatted once a second, not once a message
            self._date = (now, email.utils.formatdate(now, localtime=True))
        return f"by {self._hostname} (postfach) with local; {self._date[1]}"

    async def _folder(self, account_id: AccountId, junk: bool) -> MailboxId:
        """The INBOX, or the Spam folder (special-use \\Junk) when it exists."""
        if junk:
            mailbox = await self._store.mailboxes.special_mailbox(account_id, SpecialUse.JUNK)
            if mailbox is not None:
                return mailbox.id
        return await self._inbox(account_id)

    async def _inbox(self, account_id: AccountId) -> MailboxId:
        inbox = self._inboxes.get(account_id)
        if inbox is None:
            mailbox = await self._store.mailboxes.get_mailbox(account_id, "INBOX")
            if mailbox is None:
                raise StoreError(f"account #{account_id} has no INBOX")
            inbox = self._inboxes[account_id] = mailbox.id
        return inbox

    def _submit(self, item: NewMessage) -> _Job:
        job = _Job(item)
        self._queue.put_nowait(job)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="delivery-writer")
        return job

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                results = await self._store.mail.add_messages([job.item for job in batch])
            except Exception as exc:
                if isinstance(exc, StoreUnavailable | StoreFull):
                    faults.report(exc, f"delivery batch of {len(batch)}")
                else:
                    log.exception("delivery batch of %d failed", len(batch))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, result in zip(batch, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)


def _severity(status: DeliveryStatus) -> int:
    """Which status an account with several copies reports: the worst."""
    return 0 if status is DeliveryStatus.OVER_QUOTA else 1


def _status(result: Uid | StoreError) -> DeliveryStatus:
    if isinstance(result, OverQuota):
        return DeliveryStatus.OVER_QUOTA
    if isinstance(result, StoreError):
        raise result
    return DeliveryStatus.DELIVERED
