"""Spreading a campaign over the relays within their limits (R24, R26).

The loop, in words: take the enabled relays in their order; use the first one
whose rolling hour *and* rolling day still have room; send through it, on
`relay.concurrency` connections with up to `relay.per_connection` messages
each, until it has no room left (the store grants only what fits, see
store/mailing.py) or the queue is empty; then at once the next relay. When no
relay has room, wait (on the injectable clock) until the earliest window opens,
or until a deferred recipient is due, and go on.

A relay that refuses the login, or cannot be reached, is set aside for the rest
of the run and the next takes over; its reservations are given back. A 4xx
reply (or a connection lost mid-message) queues the recipient again with
back-off, up to `max_attempts`; a 5xx reply is final. Every outcome is stored
with the relay's own reply.

Each connection works in batches: claim, render them all, hand them to the
connection (which pipelines them, see smtpclient.py), and store the outcomes in
the same transaction as the next claim, so a batch costs one commit. Messages
that never reached the relay give their reservations back at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from postfach.mailing.clock import Clock, SystemClock
from postfach.mailing.compose import CampaignTemplates, ComposeError
from postfach.mailing.sender import choose_sender
from postfach.mailing.tokens import return_path
from postfach.mailing.transport import (
    Envelope,
    RelayConnection,
    RelayUnavailable,
    SendResult,
)
from postfach.store.mailing import (
    FAILED,
    QUEUED,
    SENT,
    Campaign,
    Claimed,
    MailingStore,
    Outcome,
    Relay,
    Settle,
)

__all__ = ["Connector", "RunReport", "Scheduler", "SchedulerSettings"]

log = logging.getLogger(__name__)

Connector = Callable[[Relay], Awaitable[RelayConnection]]
Progress = Callable[[Relay, Sequence[Outcome]], None]

# Recipients per claim (one transaction to take them, one to record them): the
# first claim of a connection takes CLAIM_FIRST, later ones about BATCH_SECONDS
# worth at the rate the connection reached, within CLAIM_MIN..CLAIM_MAX. Big
# batches spare the store; short ones keep leases safe on slow relays.
CLAIM_FIRST = 100
CLAIM_MIN = 10
CLAIM_MAX = 500
BATCH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    owner: str = "postfach"
    unsubscribe_base: str = "https://localhost"
    retry_base: float = 300.0
    max_backoff: float = 4 * 3600.0
    max_attempts: int = 6
    lease: float = 900.0
    poll: float = 5.0  # when other nodes hold the due work


@dataclass(slots=True)
class RunReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    set_aside: dict[str, str] = field(default_factory=dict)
    waits: list[tuple[float, float]] = field(default_factory=list)
    finished: bool = False
    stopped: str = ""
    already_running: bool = False  # another run in this process has the campaign


@dataclass(slots=True)
class _Line:
    """One worker's connection and what it still has to record."""

    connection: RelayConnection | None = None
    on_connection: int = 0
    batch: int = CLAIM_FIRST
    handled: int = 0
    unrecorded: Settle | None = None  # outcomes recorded with the next claim


@dataclass(slots=True)
class _Run:
    campaign: Campaign
    templates: CampaignTemplates
    report: RunReport
    aside: dict[int, str] = field(default_factory=dict)


def _next_batch(handled: int, seconds: float) -> int:
    if handled <= 0:
        return CLAIM_FIRST
    rate = handled / max(seconds, 1e-3)
    return max(CLAIM_MIN, min(CLAIM_MAX, int(rate * BATCH_SECONDS)))


class Scheduler:
    def __init__(
        self,
        mailing: MailingStore,
        connect: Connector,
        settings: SchedulerSettings,
        clock: Clock | None = None,
        progress: Progress | None = None,
        sending: set[int] | None = None,
    ) -> None:
        self.mailing = mailing
        self.connect = connect
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.progress = progress
        # Campaigns being sent in this process (the context's campaigns_sending).
        self.sending: set[int] = set() if sending is None else sending

    async def run(self, campaign: Campaign) -> RunReport:
        """Sends what is queued for `campaign` until nothing is left or no relay can.

        One run per campaign per process (the service's and an API-started one
        would otherwise both send); other nodes are kept apart by the claims."""
        if campaign.id in self.sending:
            return RunReport(already_running=True)
        self.sending.add(campaign.id)
        try:
            return await self._run(campaign)
        finally:
            self.sending.discard(campaign.id)

    async def _run(self, campaign: Campaign) -> RunReport:
        attachments = await self.mailing.attachments(campaign.id)
        templates = CampaignTemplates(campaign, attachments, self.settings.unsubscribe_base)
        run = _Run(campaign, templates, RunReport())
        while not await self._step(run):
            pass
        return run.report

    async def _step(self, run: _Run) -> bool:
        """One decision of the loop; True when the run is over."""
        now = self.clock.now()
        free, leased = await self.mailing.next_due(run.campaign.id, now)
        if free is None and leased is None:
            await self.mailing.set_campaign_state(run.campaign.id, "done")
            run.report.finished = True
            return True
        # Work leased by another node: look again soon, it may come back.
        due = free if free is not None else min(leased or now, now + self.settings.poll)
        relays = [
            r for r in await self.mailing.list_relays() if r.enabled and r.id not in run.aside
        ]
        if not relays:
            run.report.stopped = "no relay can send" + "".join(
                f"; {reason}" for reason in run.report.set_aside.values()
            )
            return True
        chosen, opens = await self._first_with_room(relays, now)
        wake = max(due, now if chosen is not None else min(opens, default=now + 60.0))
        if wake > now:
            await self._wait(run, wake)
            return False
        assert chosen is not None
        if not await self._drive(run, chosen):
            await self._wait(run, now + self.settings.poll)
        return False

    async def _first_with_room(
        self, relays: list[Relay], now: float
    ) -> tuple[Relay | None, list[float]]:
        opens: list[float] = []
        for relay in relays:
            quota = await self.mailing.quota(relay, now)
            if quota.room is None or quota.room > 0:
                return relay, opens
            if quota.next_window is not None:
                opens.append(quota.next_window)
        return None, opens

    async def _wait(self, run: _Run, until: float) -> None:
        run.report.waits.append((self.clock.now(), until))
        await self.clock.sleep_until(until)

    async def _drive(self, run: _Run, relay: Relay) -> bool:
        """Sends through `relay` on its connections until it is out of room or work."""
        counts = await asyncio.gather(
            *(self._worker(run, relay) for _ in range(max(1, relay.concurrency)))
        )
        return sum(counts) > 0 or relay.id in run.aside

    async def _worker(self, run: _Run, relay: Relay) -> int:
        """One connection at a time: claim, send, and record with the next claim.

        Returns how many recipients it handled.
        """
        line = _Line()
        try:
            while relay.id not in run.aside:
                now = self.clock.now()
                used = line.on_connection if line.connection is not None else 0
                want = min(relay.per_connection - used, line.batch)
                claimed = await self.mailing.claim(
                    run.campaign.id,
                    relay,
                    self.settings.owner,
                    want,
                    now,
                    self.settings.lease,
                    line.unrecorded,
                )
                self._recorded(run, line)
                if not claimed:
                    break
                if line.connection is None:
                    line.connection = await self._open(run, relay, claimed, now)
                    if line.connection is None:
                        break
                    line.on_connection = 0
                await self._send_batch(run, relay, line, claimed, now)
        finally:
            await self._close(run, line)
        return line.handled

    async def _close(self, run: _Run, line: _Line) -> None:
        """Records what is left to record and closes the connection."""
        try:
            settle = line.unrecorded
            if settle is not None:
                await self.mailing.record(
                    settle.relay, settle.outcomes, self.clock.now(), settle.since
                )
                self._recorded(run, line)
        finally:
            if line.connection is not None:
                await line.connection.close()
                line.connection = None

    async def _open(
        self, run: _Run, relay: Relay, claimed: list[Claimed], since: float
    ) -> RelayConnection | None:
        try:
            return await self.connect(relay)
        except RelayUnavailable as exc:
            reason = str(exc)
            if relay.id not in run.aside:
                log.warning("relay %s set aside for this run: %s", relay.name, reason)
            run.aside[relay.id] = reason
            run.report.set_aside[relay.name] = reason
            ids = [c.id for c in claimed]
            await self.mailing.give_back(relay, ids, ids, since)
            return None

    async def _send_batch(
        self, run: _Run, relay: Relay, line: _Line, claimed: list[Claimed], since: float
    ) -> None:
        """Renders and sends the claimed recipients; their outcomes wait in `line`."""
        assert line.connection is not None
        started = time.monotonic()
        sender = choose_sender(run.campaign, relay)
        outcomes: list[Outcome] = []
        unsent: list[Claimed] = []  # never reached the relay: reservations go back
        items: list[Claimed] = []
        envelopes: list[Envelope] = []
        for item in claimed:
            envelope_from = return_path(relay.sender_address, run.campaign.id, item.token)
            try:
                data = run.templates.render(
                    sender, envelope_from, item.email, item.token, item.fields
                ).data
            except ComposeError as exc:
                outcomes.append(Outcome(item.id, FAILED, str(exc)))
                unsent.append(item)
                continue
            items.append(item)
            envelopes.append(Envelope(envelope_from, item.email, data, clean=True))
        results, lost = await line.connection.send_many(envelopes)
        outcomes.extend(
            self._outcome(item, result) for item, result in zip(items, results, strict=False)
        )
        untried = [c.id for c in items[len(results) :]]
        # Never reached the relay: the reservation goes back; untried ones wait for a claim.
        await self.mailing.give_back(relay, [c.id for c in unsent] + untried, untried, since)
        line.unrecorded = Settle(relay, outcomes, since)
        line.handled += len(outcomes)
        line.on_connection += len(outcomes)
        line.batch = _next_batch(len(outcomes), time.monotonic() - started)
        if lost or line.on_connection >= relay.per_connection:
            connection, line.connection = line.connection, None
            await connection.close()

    def _recorded(self, run: _Run, line: _Line) -> None:
        """The report and the progress callback learn of the outcomes just recorded."""
        settle, line.unrecorded = line.unrecorded, None
        if settle is None:
            return
        report = run.report
        for outcome in settle.outcomes:
            if outcome.state == SENT:
                report.sent += 1
            elif outcome.state == FAILED:
                report.failed += 1
            else:
                report.deferred += 1
        if self.progress is not None:
            self.progress(settle.relay, settle.outcomes)

    def _outcome(self, item: Claimed, result: SendResult) -> Outcome:
        if result.kind == "sent":
            return Outcome(item.id, SENT, result.reply)
        if result.kind == "failed":
            return Outcome(item.id, FAILED, result.reply)
        return self._deferred(item, result.reply)

    def _deferred(self, item: Claimed, reply: str) -> Outcome:
        attempts = item.attempts + 1
        if attempts >= self.settings.max_attempts:
            return Outcome(item.id, FAILED, f"{reply} (gave up after {attempts} attempts)")
        delay = min(self.settings.max_backoff, self.settings.retry_base * 2 ** (attempts - 1))
        return Outcome(item.id, QUEUED, reply, self.clock.now() + delay)
