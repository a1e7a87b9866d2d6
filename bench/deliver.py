"""Durable local deliveries per second, against a same-run baseline.

For each backend: N deliveries of distinct 10 KB messages by C concurrent
deliverers through postfach's Delivery (aliases, parsing, trace headers, group
commit), next to a baseline of one INSERT and one COMMIT per message on the
same database with the same durability settings. Prints both rates, the ratio
and the resident memory every 10 % of the run (it should stay flat).

`--index both` runs postfach twice, with the full-text index (its indexer
draining the queue beside the deliveries in a process of its own, as the
server runs it; the time to catch up after the last delivery is printed too)
and without it (the queueing trigger dropped), and prints what the index costs
of the delivery rate; `--rounds N` repeats the pair, alternating, and prints
the median cost (this machine's disk and CPU vary by a fifth between runs).

    .venv/bin/python bench/deliver.py                      # SQLite, 20,000 messages
    .venv/bin/python bench/deliver.py --count 100000       # the memory check
    POSTFACH_TEST_PG=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/deliver.py --backend both
    .venv/bin/python bench/deliver.py --index both --rounds 3   # the index's cost
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from postfach.delivery import Delivery
from postfach.store import Store
from postfach.textindexer import IndexerProcess

# What turns the full-text index off: new blobs are no longer queued for it.
NO_INDEX = {
    "sqlite": "DROP TRIGGER blobs_text_queue",
    "postgresql": "DROP TRIGGER blobs_text_queue ON blobs",
}

BODY = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 180)[:10_000]


def message(n: int) -> bytes:
    return (
        b"From: Sender <sender@example.net>\r\nTo: bob@example.org\r\n"
        b"Subject: benchmark message %d\r\nMessage-ID: <%d@bench>\r\n\r\n" % (n, n)
    ) + BODY


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def run_postfach(
    url: str, count: int, concurrency: int, index: bool = True
) -> tuple[float, list[float]]:
    store = await Store.connect(url)
    if not index:
        async with store.mail.write() as tx:
            await tx.exec_driver_sql(NO_INDEX[store.mail.dialect])
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", "x")
    delivery = Delivery(store, "bench.example.org")
    counter = iter(range(count))
    memory: list[float] = []
    step = max(count // 10, 1)

    async def worker() -> None:
        for n in counter:
            status = await delivery.deliver(message(n), "sender@example.net", ["bob@example.org"])
            assert status["bob@example.org"].value == "delivered"
            if n % step == 0:
                memory.append(rss_mib())

    # The indexer as the server runs it: a process of its own, started at once here.
    process = IndexerProcess(store.mail, url, start_after=0, look=0.2)
    indexer = asyncio.create_task(process.run()) if index else None
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    if indexer is not None:
        caught_up = time.perf_counter()
        while await store.mail.pending_index():
            await asyncio.sleep(0.05)
        print(
            f"  indexer: {time.perf_counter() - caught_up:.2f} s after the last delivery"
            " to empty the queue"
        )
        indexer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await indexer
    await delivery.stop()
    await store.close()
    return count / elapsed, memory


def baseline_sqlite(path: Path, count: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, data BLOB)")
    start = time.perf_counter()
    for n in range(count):
        db.execute("BEGIN")
        db.execute("INSERT INTO m (data) VALUES (?)", (message(n),))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


async def baseline_postgres(url: str, count: int, concurrency: int) -> float:
    import asyncpg

    setup = await asyncpg.connect(url)
    await setup.execute(
        "DROP TABLE IF EXISTS bench_m; CREATE TABLE bench_m (id serial, data bytea)"
    )
    await setup.close()
    counter = iter(range(count))

    async def worker() -> None:
        conn = await asyncpg.connect(url)
        for n in counter:
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_m (data) VALUES ($1)", message(n))
        await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    setup = await asyncpg.connect(url)
    await setup.execute("DROP TABLE bench_m")
    await setup.close()
    return count / elapsed


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    await conn.close()


def report(name: str, rate: float, base: float, memory: list[float]) -> None:
    print(
        f"{name}: postfach {rate:,.0f} deliveries/s, baseline {base:,.0f}/s, "
        f"ratio {rate / base:.2f}"
    )
    if memory:
        print(f"{name}: RSS MiB over the run: {' '.join(f'{m:.0f}' for m in memory)}")


def index_cost(name: str, rounds: list[dict[bool, float]]) -> None:
    costs = sorted(1 - rates[True] / rates[False] for rates in rounds if len(rates) == 2)
    if costs:
        each = ", ".join(f"{cost:.1%}" for cost in costs)
        print(
            f"{name}: the full-text index costs {statistics.median(costs):.1%} of the delivery"
            f" rate, median of {len(costs)} ({each}; goal < 15 %)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=1, help="pairs of runs for --index both")
    parser.add_argument(
        "--index",
        choices=("on", "off", "both"),
        default="on",
        help="the full-text index on, off, or both one after the other (its cost)",
    )
    args = parser.parse_args()
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.index]
    print(f"{args.count} deliveries of {len(message(0))} octets, {args.concurrency} deliverers")
    rounds = range(args.rounds if len(modes) == 2 else 1)
    if args.backend in ("sqlite", "both"):
        results: list[dict[bool, float]] = []
        for _ in rounds:
            results.append({})
            for index in modes:
                with tempfile.TemporaryDirectory() as tmp:
                    rate, memory = await run_postfach(
                        f"sqlite:///{tmp}/bench.db", args.count, args.concurrency, index
                    )
                    base = baseline_sqlite(Path(tmp) / "baseline.db", args.count)
                results[-1][index] = rate
                report(f"sqlite, index {'on' if index else 'off'}", rate, base, memory)
        index_cost("sqlite", results)
    if args.backend in ("postgresql", "both"):
        url = os.environ.get("POSTFACH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
        results = []
        for _ in rounds:
            results.append({})
            for index in modes:
                await reset_postgres(url)
                rate, memory = await run_postfach(url, args.count, args.concurrency, index)
                base = await baseline_postgres(url, args.count, args.concurrency)
                await reset_postgres(url)
                results[-1][index] = rate
                report(f"postgresql, index {'on' if index else 'off'}", rate, base, memory)
        index_cost("postgresql", results)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"max RSS {usage.ru_maxrss / 1024:.0f} MiB")
    print("reproduce: .venv/bin/python bench/deliver.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
