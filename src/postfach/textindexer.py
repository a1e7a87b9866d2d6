"""The server's full-text indexer: takes the blobs delivery queued into the
text index (store `index_pending`), in batches, off the delivery path.

It runs as a process of its own (`python -m postfach.textindexer`), which the
server's primary worker starts when blobs wait (`IndexerProcess`) and which
ends after a minute without work: splitting a blob into its words and the
index's upkeep cost about as much CPU as storing it, and on SQLite the index
has a file of its own (store/textfile.py), so deliveries wait neither for the
one nor for the other. Measured by `bench/deliver.py --index both`.

SEARCH never waits for it (the store scans what is still queued), so it may
yield to deliveries: while mail arrives faster than `BURST` a second, it lets
the queue grow, up to `BACKLOG` blobs (which bounds what a SEARCH scans), and
catches up when the burst is over. One runs per server; nodes sharing
PostgreSQL each run one, and the store gives them disjoint batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time

from postfach.store.api import MailApi

__all__ = ["BACKLOG", "BATCH", "BURST", "IDLE_SECONDS", "IndexerProcess", "run_indexer"]

log = logging.getLogger(__name__)

# Blobs per transaction: big enough that the index's per-commit work is shared,
# small enough that deliveries wait for SQLite's write lock only briefly.
BATCH = 200
IDLE_SECONDS = 1.0
BURST = 200.0  # arrivals a second
BACKLOG = 5000
# The process starts when a blob has waited this long, or a batch is queued
# (a few messages need no process: SEARCH scans them), and ends after
# IDLE_EXIT seconds without work.
START_AFTER = 5.0
IDLE_EXIT = 60.0
RESTART_PAUSE = 5.0  # after a process that failed
STOP_TIMEOUT = 5.0


async def run_indexer(
    mail: MailApi, idle: float = IDLE_SECONDS, idle_exit: float | None = None
) -> None:
    """Drains the queue until cancelled (or, with `idle_exit`, until it has had
    no work that long): batch after batch while there is work and no burst of
    deliveries, then a look every `idle` seconds."""
    left, then = 0, time.monotonic()  # the queue after the last look, and when
    worked = time.monotonic()
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
            if pending:
                worked = then
            elif idle_exit is not None and then - worked >= idle_exit:
                return
        except Exception:  # the store is down for a moment: try again later
            log.exception("text indexing failed")
        await asyncio.sleep(0 if busy else idle)


class IndexerProcess:
    """Keeps the indexer's process running while there is work; in the primary
    worker, which it dies with (PR_SET_PDEATHSIG). The storage URL, which may
    hold a password, goes over the child's standard input, never its argv."""

    def __init__(
        self,
        mail: MailApi,
        storage_url: str,
        *,
        log_format: str = "text",
        start_after: float = START_AFTER,
        look: float = IDLE_SECONDS,
    ) -> None:
        self._mail = mail
        self._url = storage_url
        self._log_format = log_format
        self._start_after = start_after
        self._look = look
        self.process: asyncio.subprocess.Process | None = None

    async def run(self) -> None:
        """Until cancelled: starts the process when blobs wait, and again after it ended."""
        waiting_since: float | None = None
        try:
            while True:
                await asyncio.sleep(self._look)
                if self.process is not None:
                    if self.process.returncode is None:
                        continue
                    if self._ended():
                        await asyncio.sleep(RESTART_PAUSE)
                try:
                    pending = await self._mail.pending_index()
                except Exception:  # the store is down for a moment: look again later
                    log.exception("text indexing: the queue could not be read")
                    continue
                if not pending:
                    waiting_since = None
                    continue
                now = time.monotonic()
                waiting_since = now if waiting_since is None else waiting_since
                if pending >= BATCH or now - waiting_since >= self._start_after:
                    try:
                        await self._start()
                    except OSError:  # no process to be had now (EAGAIN, ENOMEM)
                        log.exception("the text indexer's process could not be started")
                        await asyncio.sleep(RESTART_PAUSE)
                    waiting_since = None
        finally:
            await self.stop()

    async def _start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postfach.textindexer", stdin=asyncio.subprocess.PIPE
        )
        assert self.process.stdin is not None
        self.process.stdin.write(f"{self._url}\n{self._log_format}\n".encode())
        await self.process.stdin.drain()
        self.process.stdin.close()

    def _ended(self) -> bool:
        """True when the process failed (it ends by itself with status 0)."""
        assert self.process is not None
        status = self.process.returncode
        self.process = None
        if status:
            log.error("the text indexer's process exited with status %s", status)
        return bool(status)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _index_until_idle(url: str) -> None:
    from postfach.store import Store  # the child's own store, migrated by the server

    store = await Store.connect(url, migrate=False)
    try:
        await run_indexer(store.mail, idle_exit=IDLE_EXIT)
    finally:
        await store.close()


def main() -> None:
    """The indexer's process: the storage URL and the log format on stdin."""
    from postfach.logsetup import configure_logging
    from postfach.workers import die_with_supervisor

    parent = os.getppid()
    url = sys.stdin.readline().rstrip("\n")
    log_format = sys.stdin.readline().strip() or "text"
    logging.basicConfig(level=logging.INFO)
    configure_logging(log_format)
    if not url or not die_with_supervisor(parent):
        return  # the worker that started it is gone already
    asyncio.run(_index_until_idle(url))


if __name__ == "__main__":
    main()
