"""The queue worker: claims due recipients, delivers them, retries, and reports (R20, R21).

Each round claims due recipients under a lease (other nodes skip them), groups
them by destination, and sends each destination's messages over at most
`queue.connections_per_destination` connections at a time, several messages per
connection. A 4xx reply or a broken connection defers a recipient with
exponential back-off (`retry_base` · 2^attempts, at most 4 hours) until
`queue.max_age`; a 5xx reply or expiry fails it and sends the sender an RFC 3464
report stating the remote reply. A message still deferred `queue.delay_warning` seconds after
it arrived gets its sender one "delayed" report (RFC 3461 §4.1, RFC 3464
Action: delayed), once per message, for the recipients whose NOTIFY does not
exclude DELAY (no NOTIFY counts as FAILURE,DELAY). A lease that runs out (a node
died) makes the recipient due again, so delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from postfach.context import ServerContext
from postfach.queue.client import Batch, Outcome, send_batches
from postfach.queue.dsn import ReportRecipient, reply_status
from postfach.queue.outbound import register_waker, send_report
from postfach.queue.routes import Destination, RouteError, find_route
from postfach.store import faults
from postfach.store.api import StoreFull, StoreUnavailable
from postfach.store.events import QUEUE_WATCH
from postfach.store.queue import FAILED, QUEUED, SENT, QueueItem, QueueMessage

__all__ = ["QueueWorker", "backoff"]

log = logging.getLogger(__name__)

LEASE = 900.0
MAX_BACKOFF = 4 * 3600.0
CLAIM_LIMIT = 200
MAX_POLL = 5.0
# Seconds a message may wait before its sender hears it is delayed; 0 turns it off.


def backoff(retry_base: float, attempts: int) -> float:
    """Seconds until the next try after `attempts` failed ones."""
    return float(min(MAX_BACKOFF, retry_base * (2 ** min(attempts, 30))))


class QueueWorker:
    """Runs in `postfach serve` (App starts and stops it)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._hearing: asyncio.Task[None] | None = None
        self._limits: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(max(1, ctx.config.queue.connections_per_destination))
        )

    async def start(self) -> None:
        register_waker(self._wake)
        self._task = asyncio.create_task(self._run(), name="queue-worker")
        self._hearing = asyncio.create_task(self._hear_queued(), name="queue-wake")

    async def _hear_queued(self) -> None:
        """Mail queued by another worker process or node (store: ChangeQueued)."""
        with self.ctx.store.hub.watch(QUEUE_WATCH) as changes:
            while True:
                await changes.get()
                self._wake.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._task, self._hearing, *self._jobs) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        poll = max(0.05, min(MAX_POLL, self.ctx.config.queue.retry_base))
        while True:
            self._wake.clear()
            try:
                claimed = await self.run_once()
            except (StoreUnavailable, StoreFull) as exc:
                faults.report(exc, "queue round")
                claimed = 0
            except Exception:
                log.exception("queue round failed")
                claimed = 0
            if claimed >= CLAIM_LIMIT:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """One round: claims due recipients and starts their deliveries."""
        items = await self.ctx.store.queue_claim(self.ctx.node_id, LEASE, CLAIM_LIMIT)
        if not items:
            return 0
        by_domain: dict[str, list[QueueItem]] = defaultdict(list)
        for item in items:
            by_domain[item.domain].append(item)
        for domain, domain_items in by_domain.items():
            job = asyncio.create_task(self._deliver_domain(domain, domain_items))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        return len(items)

    async def _deliver_domain(self, domain: str, items: list[QueueItem]) -> None:
        try:
            dest = await find_route(self.ctx.config, domain)
        except RouteError as exc:
            kind = "failed" if exc.permanent else "deferred"
            await self._record({i.id: Outcome(kind, exc.reason) for i in items}, items)
            return
        batches = await self._batches(items)
        async with self._limits[dest.key]:
            outcomes = await self._send(dest, batches)
        await self._record(outcomes, items)

    async def _batches(self, items: Sequence[QueueItem]) -> list[Batch]:
        by_message: dict[int, list[QueueItem]] = defaultdict(list)
        for item in items:
            by_message[item.message_id].append(item)
        batches = []
        for message_id, message_items in by_message.items():
            message = await self.ctx.store.queue_message(message_id)
            if message is not None:
                batches.append(Batch(message, tuple(message_items)))
        return batches

    async def _send(self, dest: Destination, batches: list[Batch]) -> dict[int, Outcome]:
        try:
            return await send_batches(dest, batches, self.ctx.hostname)
        except Exception as exc:
            log.exception("delivery to %s failed", dest.key)
            reason = f"internal error: {type(exc).__name__}"
            return {i.id: Outcome("deferred", reason) for b in batches for i in b.items}

    async def _record(self, outcomes: dict[int, Outcome], items: Sequence[QueueItem]) -> None:
        """Stores each recipient's outcome, then sends the reports it calls for."""
        store, now = self.ctx.store, time.time()
        messages = {i.message_id: await store.queue_message(i.message_id) for i in items}
        reports: dict[int, list[ReportRecipient]] = defaultdict(list)
        deferred: dict[int, list[QueueItem]] = defaultdict(list)
        for item in items:
            outcome = outcomes.get(item.id, Outcome("deferred", "not attempted"))
            message = messages[item.message_id]
            if outcome.kind == "deferred" and message is not None:
                if now - message.created > self.ctx.config.queue.max_age:
                    reason = f"delivery time expired; last error: {outcome.reply}"
                    outcome = Outcome("failed", reason, outcome.code, outcome.host)
            await self._store_outcome(item, outcome, now)
            report = _report_for(item, outcome)
            if report is not None:
                reports[item.message_id].append(report)
            if outcome.kind == "deferred" and _wants_delay_notice(item):
                deferred[item.message_id].append(item)
        for message_id, recipients in reports.items():
            await self._report(messages[message_id], recipients)
        for message_id in deferred:
            await self._delay_notice(messages[message_id], outcomes, now)
        await store.queue_cleanup(list(messages))

    async def _store_outcome(self, item: QueueItem, outcome: Outcome, now: float) -> None:
        store = self.ctx.store
        if outcome.kind == "sent":
            await store.queue_finish([item.id], SENT, outcome.reply)
        elif outcome.kind == "failed":
            log.info("queue: %s failed: %s", item.address, outcome.reply)
            await store.queue_finish([item.id], FAILED, outcome.reply)
        else:
            delay = backoff(self.ctx.config.queue.retry_base, item.attempts)
            await store.queue_finish([item.id], QUEUED, outcome.reply, now + delay)

    async def _delay_notice(
        self, message: QueueMessage | None, outcomes: dict[int, Outcome], now: float
    ) -> None:
        """One "delayed" report per message, listing every recipient still waiting."""
        threshold = self.ctx.config.queue.delay_warning
        if message is None or not message.sender or not threshold:
            return
        if now - message.created < threshold:
            return
        store = self.ctx.store
        waiting = [
            item
            for item in await store.queue_recipients_of(message.id)
            if item.status == QUEUED and item.attempts and _wants_delay_notice(item)
        ]
        if not waiting or not await store.queue_claim_delay_notice(message.id):
            return
        until = message.created + self.ctx.config.queue.max_age
        recipients = [_delayed(item, outcomes.get(item.id), until) for item in waiting]
        log.info("queue: message %d delayed, telling %s", message.id, message.sender)
        # Postfix's habit, and enough to recognize the message: headers only.
        await self._report(message, recipients, ret="HDRS")

    async def _report(
        self,
        message: QueueMessage | None,
        recipients: list[ReportRecipient],
        ret: str | None = None,
    ) -> None:
        if message is None:
            return
        try:
            await send_report(
                self.ctx,
                message.sender,
                message.raw,
                recipients,
                envid=message.envid,
                ret=ret or message.ret,
                arrival=message.created,
            )
        except Exception:
            log.exception("report for queue message %d could not be sent", message.id)


def _report_for(item: QueueItem, outcome: Outcome) -> ReportRecipient | None:
    """RFC 3461 §4.1: reports on failure unless NOTIFY says otherwise; on success if asked."""
    notify = item.notify
    if outcome.kind == "failed" and (notify is None or "FAILURE" in notify):
        status = reply_status(outcome.code, outcome.reply) if outcome.code else "5.0.0"
        return ReportRecipient(
            item.address, "failed", status, outcome.reply, outcome.host, item.orcpt
        )
    if outcome.kind == "sent" and notify and "SUCCESS" in notify and not outcome.dsn_passed:
        return ReportRecipient(
            item.address, "relayed", "2.0.0", outcome.reply, outcome.host, item.orcpt
        )
    return None


def _wants_delay_notice(item: QueueItem) -> bool:
    """RFC 3461 §4.1: no NOTIFY may be taken as FAILURE,DELAY; NEVER or a list without
    DELAY asks for none."""
    return item.notify is None or "DELAY" in item.notify


def _delayed(item: QueueItem, outcome: Outcome | None, until: float) -> ReportRecipient:
    """A recipient's "delayed" entry: its last reply as the reason (RFC 3464 §2.3)."""
    reason = item.last_error
    code = int(reason[:3]) if reason[:3].isdigit() else 0
    status = reply_status(code, reason) if 400 <= code < 500 else "4.0.0"
    host = outcome.host if outcome is not None else ""
    return ReportRecipient(
        item.address, "delayed", status, reason, host, item.orcpt, retry_until=until
    )
