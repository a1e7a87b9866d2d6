"""The queue worker: claims due recipients, delivers them, retries, and reports (R20, R21).

Each round finds the domains with due mail and drains each one over at most
`queue.connections_per_destination` connections at a time. A connection leases
a small batch (BATCH recipients) only once it may send, sends it message by
message while the outcomes are written behind it (_Recorder), and leases the
next batch. Leases last `server.lease_time` and are renewed while the delivery
runs, so mail a dead node held moves again that long after it died, and what
it may have sent without recording it (sent twice then) is what each of its
connections sent during one write to the store: a message or two, never more
than its batch.

A 4xx reply or a broken connection defers a recipient with exponential
back-off (`retry_base` · 2^attempts, at most 4 hours) until `queue.max_age`; a
5xx reply or expiry fails it and sends the sender an RFC 3464 report stating
the remote reply. A message still deferred `queue.delay_warning` seconds after
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
from collections.abc import Awaitable, Callable, Sequence

from postfach import metrics
from postfach.context import ServerContext
from postfach.queue.client import Batch, Connection, Outcome
from postfach.queue.dsn import ReportRecipient, reply_status
from postfach.queue.outbound import send_report
from postfach.queue.routes import Destination, RouteError, find_route
from postfach.store import faults
from postfach.store.api import StoreFull, StoreUnavailable
from postfach.store.events import QUEUE_WATCH
from postfach.store.queue import FAILED, QUEUED, SENT, QueueAttempt, QueueItem, QueueMessage

__all__ = ["QueueWorker", "backoff"]

log = logging.getLogger(__name__)

MAX_BACKOFF = 4 * 3600.0
BATCH = 10  # recipients a connection leases at a time: what a kill leaves in doubt
DOMAINS_PER_ROUND = 100
SETTLE_CHUNK = 100  # recipients given one outcome at a time without sending
MAX_POLL = 5.0
MIN_LEASE = 1.0
NOT_ATTEMPTED = Outcome("deferred", "not attempted")


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
        self._renewing: asyncio.Task[None] | None = None
        self._lanes = max(1, ctx.config.queue.connections_per_destination)
        self._limits: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._lanes)
        )
        self._lease = max(MIN_LEASE, ctx.config.server.lease_time)
        self._draining: set[str] = set()  # domains being drained now
        self._passed_over: set[str] = set()  # ... for which a round found more mail
        self._held: set[int] = set()  # recipients leased and not yet recorded

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="queue-worker")
        self._hearing = asyncio.create_task(self._hear_queued(), name="queue-wake")
        self._renewing = asyncio.create_task(self._renew_leases(), name="queue-leases")

    async def _hear_queued(self) -> None:
        """Mail queued in this process, by another worker process or by another node
        (store: ChangeQueued), and retries asked for by `postfach queue retry`."""
        with self.ctx.store.hub.watch(QUEUE_WATCH) as changes:
            while True:
                await changes.get()
                self._wake.set()

    async def stop(self) -> None:
        running = (self._task, self._hearing, self._renewing, *self._jobs)
        tasks = [t for t in running if t is not None]
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
                await self.run_once()
            except (StoreUnavailable, StoreFull) as exc:
                faults.report(exc, "queue round")
            except Exception:
                log.exception("queue round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """One round: starts draining each domain with due mail; returns how many."""
        started = 0
        for domain in await self.ctx.store.queue.due_domains(DOMAINS_PER_ROUND):
            if domain in self._draining:
                self._passed_over.add(domain)  # its drain may be ending: look again then
                continue
            self._draining.add(domain)
            job = asyncio.create_task(self._drain(domain), name=f"queue {domain}")
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
            started += 1
        return started

    async def _drain(self, domain: str) -> None:
        """Delivers a domain's due mail over up to `connections_per_destination`
        connections, until none is left."""
        try:
            try:
                dest = await find_route(self.ctx.config, domain)
            except RouteError as exc:
                kind = "failed" if exc.permanent else "deferred"
                await self._settle_all(domain, Outcome(kind, exc.reason))
                return
            lanes = [self._lane(domain, dest) for _ in range(self._lanes)]
            # Each lane ends on its own: one that fails must not leave the others unowned.
            for result in await asyncio.gather(*lanes, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("queue: delivery to %s failed", domain, exc_info=result)
        except Exception:
            log.exception("queue: delivery to %s failed", domain)
        finally:
            self._draining.discard(domain)
            if domain in self._passed_over:
                self._passed_over.discard(domain)
                self._wake.set()

    async def _lane(self, domain: str, dest: Destination) -> None:
        """One connection's worth of a drain: lease a batch, send it, lease the next."""
        async with self._limits[dest.key]:
            connection: Connection | None = None
            try:
                while items := await self._claim(domain, BATCH):
                    try:
                        connection = await self._deliver(dest, connection, items)
                    except _Unreachable as exc:  # the rest waits for its retry
                        await self._settle_all(domain, exc.outcome)
                        return
                    finally:  # recorded, or left for its lease to run out after an error
                        self._held.difference_update(item.id for item in items)
            finally:
                if connection is not None:
                    await connection.close()

    async def _deliver(
        self, dest: Destination, connection: Connection | None, items: list[QueueItem]
    ) -> Connection | None:
        """Sends the batch message by message over `connection` (opened if None) while
        the outcomes are recorded behind; returns the connection if it is still
        usable. _Unreachable when no host of `dest` answers (the rest recorded deferred)."""
        recorder = _Recorder(self._record)
        try:
            for index, batch in enumerate(batches := await self._batches(items)):
                if connection is None:
                    try:
                        connection = await Connection.open(dest, self.ctx.hostname)
                    except ConnectionError as exc:
                        outcome = Outcome("deferred", str(exc))
                        rest = batches[index:]
                        recorder.add({i.id: outcome for b in rest for i in b.items}, rest)
                        raise _Unreachable(outcome) from exc
                outcomes, connection = await self._send(connection, batch)
                recorder.add(outcomes, [batch])
        finally:
            await recorder.flush()
        return connection

    async def _send(
        self, connection: Connection, batch: Batch
    ) -> tuple[dict[int, Outcome], Connection | None]:
        """One message; the connection is None after it broke (the next opens anew)."""
        try:
            return await connection.send(batch), connection
        except ConnectionError as exc:
            return {i.id: Outcome("deferred", str(exc)) for i in batch.items}, None
        except Exception as exc:
            log.exception("queue: sending message %d failed", batch.message.id)
            await connection.close()
            reason = f"internal error: {type(exc).__name__}"
            return {i.id: Outcome("deferred", reason) for i in batch.items}, None

    async def _claim(self, domain: str, limit: int) -> list[QueueItem]:
        items = await self.ctx.store.queue.claim(self.ctx.node_id, self._lease, limit, domain)
        self._held.update(item.id for item in items)
        return items

    async def _settle_all(self, domain: str, outcome: Outcome) -> None:
        """Gives every due recipient of `domain` the same outcome (a route that
        failed, a destination that did not answer), without sending anything."""
        while items := await self._claim(domain, SETTLE_CHUNK):
            try:
                await self._record_all(items, outcome)
            finally:
                self._held.difference_update(item.id for item in items)

    async def _record_all(self, items: Sequence[QueueItem], outcome: Outcome) -> None:
        await self._record({i.id: outcome for i in items}, await self._batches(items))

    async def _renew_leases(self) -> None:
        """Extends the lease of whatever this node is delivering, every third of it."""
        while True:
            await asyncio.sleep(self._lease / 3)
            if not self._held:
                continue
            try:
                await self.ctx.store.queue.renew(self.ctx.node_id, list(self._held), self._lease)
            except (StoreUnavailable, StoreFull) as exc:
                faults.report(exc, "queue lease renewal")
            except Exception:
                log.exception("queue: renewing the leases failed")

    async def _batches(self, items: Sequence[QueueItem]) -> list[Batch]:
        by_message: dict[int, list[QueueItem]] = defaultdict(list)
        for item in items:
            by_message[item.message_id].append(item)
        batches = []
        for message_id, message_items in by_message.items():
            message = await self.ctx.store.queue.message(message_id)
            if message is not None:
                batches.append(Batch(message, tuple(message_items)))
            else:  # deleted meanwhile (`queue delete`): nothing to send or record
                self._held.difference_update(item.id for item in message_items)
        return batches

    async def _record(self, outcomes: dict[int, Outcome], batches: Sequence[Batch]) -> None:
        """Stores the recipients' outcomes in one transaction, then sends the
        reports they call for."""
        now = time.time()
        final = {
            item.id: self._expire(outcomes.get(item.id, NOT_ATTEMPTED), batch.message, now)
            for batch in batches
            for item in batch.items
        }
        attempts = [self._attempt(i, final[i.id], now) for b in batches for i in b.items]
        await self.ctx.store.queue.finish(attempts)
        sent = sum(1 for outcome in final.values() if outcome.kind == "sent")
        if sent:
            metrics.delivered("sent", sent)
        self._held.difference_update(final)
        for batch in batches:
            await self._reports(batch, final, now)

    def _expire(self, outcome: Outcome, message: QueueMessage, now: float) -> Outcome:
        """A deferral past `queue.max_age` is a failure."""
        if outcome.kind == "deferred" and now - message.created > self.ctx.config.queue.max_age:
            reason = f"delivery time expired; last error: {outcome.reply}"
            return Outcome("failed", reason, outcome.code, outcome.host)
        return outcome

    def _attempt(self, item: QueueItem, outcome: Outcome, now: float) -> QueueAttempt:
        if outcome.kind == "sent":
            return QueueAttempt(item.id, SENT, outcome.reply)
        if outcome.kind == "failed":
            log.info("queue: %s failed: %s", item.address, outcome.reply)
            return QueueAttempt(item.id, FAILED, outcome.reply)
        delay = backoff(self.ctx.config.queue.retry_base, item.attempts)
        return QueueAttempt(item.id, QUEUED, outcome.reply, now + delay)

    async def _reports(self, batch: Batch, final: dict[int, Outcome], now: float) -> None:
        """What one message's outcomes call for: failure or success reports, and
        the one "delayed" report."""
        reports = [r for i in batch.items if (r := _report_for(i, final[i.id])) is not None]
        if reports:
            await self._report(batch.message, reports)
        if any(final[i.id].kind == "deferred" and _wants_delay_notice(i) for i in batch.items):
            await self._delay_notice(batch.message, final, now)

    async def _delay_notice(
        self, message: QueueMessage, outcomes: dict[int, Outcome], now: float
    ) -> None:
        """One "delayed" report per message, listing every recipient still waiting."""
        threshold = self.ctx.config.queue.delay_warning
        if not message.sender or not threshold:
            return
        if now - message.created < threshold:
            return
        store = self.ctx.store
        waiting = [
            item
            for item in await store.queue.recipients_of(message.id)
            if item.status == QUEUED and item.attempts and _wants_delay_notice(item)
        ]
        if not waiting or not await store.queue.claim_delay_notice(message.id):
            return
        until = message.created + self.ctx.config.queue.max_age
        recipients = [_delayed(item, outcomes.get(item.id), until) for item in waiting]
        log.info("queue: message %d delayed, telling %s", message.id, message.sender)
        # Postfix's habit, and enough to recognize the message: headers only.
        await self._report(message, recipients, ret="HDRS")

    async def _report(
        self,
        message: QueueMessage,
        recipients: list[ReportRecipient],
        ret: str | None = None,
    ) -> None:
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


_Record = Callable[[dict[int, Outcome], Sequence[Batch]], Awaitable[None]]


class _Recorder:
    """Records a lane's outcomes while it goes on sending: one write at a time,
    each taking everything sent meanwhile. Sending never waits for the store,
    and what a kill leaves sent but unrecorded is what one write takes."""

    def __init__(self, record: _Record) -> None:
        self._record = record
        self._outcomes: dict[int, Outcome] = {}
        self._batches: list[Batch] = []
        self._writing: asyncio.Task[None] | None = None

    def add(self, outcomes: dict[int, Outcome], batches: Sequence[Batch]) -> None:
        self._outcomes.update(outcomes)
        self._batches.extend(batches)
        if self._writing is None or self._writing.done():
            if self._writing is not None:
                self._writing.result()  # a write that failed stops the lane
            self._writing = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._batches:
            outcomes, batches = self._outcomes, self._batches
            self._outcomes, self._batches = {}, []
            await self._record(outcomes, batches)

    async def flush(self) -> None:
        """Until all is recorded (even if the lane is cancelled meanwhile)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)


class _Unreachable(Exception):
    """No host of a destination answered; `outcome` says so for its recipients."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reply)
        self.outcome = outcome


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
