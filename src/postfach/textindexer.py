"""The server's full-text indexer: takes the blobs delivery queued into the
text index (store `index_pending`), in batches, off the delivery path.

SEARCH never waits for it (the store scans what is still queued), so it may
yield to deliveries: while mail arrives faster than `BURST` a second, it lets
the queue grow, up to `BACKLOG` blobs (which bounds what a SEARCH scans), and
catches up when the burst is over. One runs per server (its primary
worker); nodes sharing PostgreSQL each run one, and the store gives them
disjoint batches.
"""

from __future__ import annotations

import asyncio
import logging
import time

from postfach.store.api import MailApi

__all__ = ["BACKLOG", "BATCH", "BURST", "IDLE_SECONDS", "run_indexer"]

log = logging.getLogger(__name__)

# Blobs per transaction: big enough that the index's per-commit work is shared,
# small enough that deliveries wait for SQLite's write lock only briefly.
BATCH = 200
IDLE_SECONDS = 1.0
BURST = 200.0  # arrivals a second
BACKLOG = 5000


async def run_indexer(mail: MailApi, idle: float = IDLE_SECONDS) -> None:
    """Drains the queue until cancelled: batch after batch while there is work
    and no burst of deliveries, then a look every `idle` seconds."""
    left, then = 0, time.monotonic()  # the queue after the last look, and when
    while True:
        busy = False
        try:
            pending = await mail.pending_index()
            now = time.monotonic()
            burst = pending - left > BURST * max(now - then, 0.001)
            if pending and (not burst or pending >= BACKLOG):
                busy = await mail.index_pending(BATCH) >= BATCH
                pending = max(pending - BATCH, 0)
            left, then = pending, time.monotonic()
        except Exception:  # the store is down for a moment: try again later
            log.exception("text indexing failed")
        await asyncio.sleep(0 if busy else idle)
