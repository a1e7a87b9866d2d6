"""The mailing engine inside `postfach serve`: sends campaigns, reads bounce mailboxes.

Every campaign in state `sending` gets a scheduler task (several nodes may run
one each: the store's claims and reservations keep them apart). A run that
stopped because no relay could send is tried again after `RETRY_STOPPED`
seconds. Bounce mailboxes are read every `[mailing] bounce_interval` seconds
(15 minutes when the key is absent), and on demand by `postfach mailing bounces
check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from postfach.context import ServerContext
from postfach.mailing.api import Mailing
from postfach.mailing.bouncebox import BoxResult
from postfach.store import faults
from postfach.store.api import StoreFull, StoreUnavailable

__all__ = ["MailingService"]

log = logging.getLogger(__name__)

LOOP = 30.0
RETRY_STOPPED = 300.0
DEFAULT_BOUNCE_INTERVAL = 900.0


class MailingService:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._stopped_at: dict[int, float] = {}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="mailing")

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._runs.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._runs.clear()

    async def _loop(self) -> None:
        mailing = Mailing.of_process(self.ctx)
        interval = self.ctx.config.mailing.bounce_interval
        interval = interval or DEFAULT_BOUNCE_INTERVAL
        next_bounces = time.time() + 60.0
        while True:
            try:
                await self._start_runs(mailing)
                if time.time() >= next_bounces:
                    next_bounces = time.time() + interval
                    await self._check_bounces(mailing)
            except (StoreUnavailable, StoreFull) as exc:
                faults.report(exc, "mailing round")
            except Exception:
                log.exception("mailing: round failed")
            await asyncio.sleep(LOOP)

    async def _start_runs(self, mailing: Mailing) -> None:
        for campaign in await mailing.store.campaigns_in_state("sending"):
            running = self._runs.get(campaign.id)
            if running is not None and not running.done():
                continue
            if time.time() - self._stopped_at.get(campaign.id, 0.0) < RETRY_STOPPED:
                continue
            self._runs[campaign.id] = asyncio.create_task(
                self._run(mailing, campaign.id), name=f"mailing-{campaign.id}"
            )

    async def _run(self, mailing: Mailing, campaign_id: int) -> None:
        campaign = await mailing.store.get_campaign(campaign_id)
        if campaign is None:
            return
        try:
            report = await mailing.scheduler().run(campaign)
        except Exception:
            log.exception("mailing: campaign %s failed", campaign.name)
            self._stopped_at[campaign_id] = time.time()
            return
        if report.already_running:
            return
        if not report.finished:
            log.warning("mailing: campaign %s paused: %s", campaign.name, report.stopped)
            self._stopped_at[campaign_id] = time.time()

    async def _check_bounces(self, mailing: Mailing) -> None:
        for name, result in (await mailing.check_bounces()).items():
            if isinstance(result, BoxResult):
                log.info("mailing: bounce mailbox %s: %s", name, result.summary())
            else:
                log.warning("mailing: bounce mailbox %s: %s", name, result)
