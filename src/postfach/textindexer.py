"""The server's full-text indexer: takes the blobs delivery queued into the
text index (store `index_pending`), in batches, off the delivery path.

SEARCH never waits for it (the store scans what is still queued), so it only
has to keep the queue short. One runs per server (its primary worker); nodes
sharing PostgreSQL each run one, and the store gives them disjoint batches.
"""

from __future__ import annotations

import asyncio
import logging

from postfach.store.api import MailApi

__all__ = ["BATCH", "IDLE_SECONDS", "run_indexer"]

log = logging.getLogger(__name__)

# Blobs per transaction: big enough that the index's per-commit work is shared,
# small enough that deliveries wait for SQLite's write lock only briefly.
BATCH = 200
IDLE_SECONDS = 1.0


async def run_indexer(mail: MailApi, idle: float = IDLE_SECONDS) -> None:
    """Drains the queue until cancelled: batch after batch while there is work,
    then a look every `idle` seconds."""
    while True:
        try:
            taken = await mail.index_pending(BATCH)
        except Exception:  # the store is down for a moment: try again later
            log.exception("text indexing failed")
            taken = 0
        await asyncio.sleep(0 if taken >= BATCH else idle)
