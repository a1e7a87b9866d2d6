"""Prometheus metrics (prometheus-client): what each process counts, and the
exposition `/metrics` serves.

`postfach serve --workers N` runs N processes; each counts for itself. The
supervisor points prometheus-client's multiprocess mode at a folder of its own
(`PROMETHEUS_MULTIPROC_DIR`, data_dir/metrics, emptied at each start) before it
starts the workers: every worker's counters and histograms live in memory-mapped
files there, and the exposition sums them over all workers, those that died
and were replaced included, so a total never falls back. One process (`--workers
1`) keeps them in memory. Gauges that describe shared state (queue depth, the
oldest queued message, relay quota left) are not counted at all: whoever serves
the scrape asks the store, so every worker would give the same answer.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from postfach.metricsdir import MULTIPROC_ENV, prepare_multiprocess

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "StoreGauges",
    "command",
    "connection_opened",
    "delivered",
    "exposition",
    "flush_tally",
    "login_failed",
    "password_checked",
    "prepare_multiprocess",
    "StoreTimer",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

CONNECTIONS = Counter("postfach_connections", "Connections let in, per listener", ["listener"])
COMMANDS = Counter("postfach_commands", "Protocol commands received, per protocol", ["protocol"])
LOGIN_FAILURES = Counter(
    "postfach_login_failures", "Failed logins (wrong password or throttled)", ["protocol"]
)
PASSWORD_CHECKS = Counter(
    "postfach_password_checks", "Passwords checked by argon2 (logins the cache did not answer)"
)
DELIVERIES = Counter(
    "postfach_deliveries",
    "Messages stored in local mailboxes (local), queued for sending (queued), sent (sent)",
    ["kind"],
)
STORE_SECONDS = Histogram(
    "postfach_store_seconds",
    "Time of store transactions",
    ["kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_STORE_READ = STORE_SECONDS.labels("read")
_STORE_WRITE = STORE_SECONDS.labels("write")


# The labelled children, looked up once: `labels()` takes a lock and builds a
# key, at every command otherwise. Listeners and protocols are a handful.
@functools.cache
def _connections(listener: str) -> Counter:
    return CONNECTIONS.labels(listener)


@functools.cache
def _commands(protocol: str) -> Counter:
    return COMMANDS.labels(protocol)


# The counts of every command, connection and delivery are tallied in a dict
# and added to their counters at most once a second (and before an exposition):
# an increment of a counter in multiprocess mode takes a lock, checks the pid and
# writes its memory-mapped file, a few percent of a worker's time under load.
_tally: dict[Counter, int] = {}
_tally_flush: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
TALLY_SECONDS = 1.0


def _count(child: Counter, amount: int = 1) -> None:
    global _tally_flush
    _tally[child] = _tally.get(child, 0) + amount
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a command-line tool): counted at once
        flush_tally()
        return
    if _tally_flush is None or _tally_flush[0] is not loop:  # none, or a loop gone
        flush_tally()
        _tally_flush = (loop, loop.call_later(TALLY_SECONDS, flush_tally))


def flush_tally() -> None:
    """Adds what was tallied to the counters."""
    global _tally_flush
    if _tally_flush is not None:
        _tally_flush[1].cancel()
        _tally_flush = None
    counted = list(_tally.items())
    _tally.clear()
    for child, amount in counted:
        child.inc(amount)


def connection_opened(listener: str) -> None:
    _count(_connections(listener))


def command(protocol: str) -> None:
    _count(_commands(protocol))


def login_failed(protocol: str) -> None:
    LOGIN_FAILURES.labels(protocol).inc()


def password_checked() -> None:
    PASSWORD_CHECKS.inc()


@functools.cache
def _deliveries(kind: str) -> Counter:
    return DELIVERIES.labels(kind)


def delivered(kind: str, count: int = 1) -> None:
    _count(_deliveries(kind), count)


class StoreTimer:
    """Observes how long a store transaction took."""

    __slots__ = ("_histogram", "_start")

    def __init__(self, write: bool) -> None:
        self._histogram = _STORE_WRITE if write else _STORE_READ
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._histogram.observe(time.perf_counter() - self._start)


class StoreGauges(Collector):
    """Gauges read from the store just before a scrape (values passed in)."""

    def __init__(
        self,
        queue_depth: int,
        oldest_age: float,
        relay_quota: Iterable[tuple[str, str, int]],
    ) -> None:
        self._queue_depth = queue_depth
        self._oldest_age = oldest_age
        self._relay_quota = list(relay_quota)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "postfach_queue_depth", "Recipients waiting in the outbound queue"
        )
        depth.add_metric([], self._queue_depth)
        yield depth
        oldest = GaugeMetricFamily(
            "postfach_queue_oldest_age_seconds",
            "Age of the oldest message in the outbound queue (0: empty)",
        )
        oldest.add_metric([], self._oldest_age)
        yield oldest
        quota = GaugeMetricFamily(
            "postfach_relay_quota_remaining",
            "Messages a mailing relay may still send in the current window",
            labels=["relay", "window"],
        )
        for relay, window, left in self._relay_quota:
            quota.add_metric([relay, window], left)
        yield quota


def exposition(gauges: StoreGauges) -> bytes:
    """The text a scrape gets: this process's (or every worker's) counters, and `gauges`."""
    flush_tally()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        text = generate_latest(counted)
    else:
        text = generate_latest(REGISTRY)
    scraped = CollectorRegistry()
    scraped.register(gauges)
    return text + generate_latest(scraped)
