"""Durable local deliveries per second, against a same-run baseline.

For each backend: N deliveries of distinct 10 KB messages by C concurrent
deliverers through postfach's Delivery (aliases, parsing, trace headers, group
commit), next to a baseline of one INSERT and one COMMIT per message on the
same database with the same durability settings. Prints both rates, the ratio
and the resident memory every 10 % of the run (it should stay flat).

    .venv/bin/python bench/deliver.py                      # SQLite, 20,000 messages
    .venv/bin/python bench/deliver.py --count 100000       # the memory check
    POSTFACH_TEST_PG=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/deliver.py --backend both
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from postfach.delivery import Delivery
from postfach.store import Store

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


async def run_postfach(url: str, count: int, concurrency: int) -> tuple[float, list[float]]:
    store = await Store.connect(url)
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

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    args = parser.parse_args()
    print(f"{args.count} deliveries of {len(message(0))} octets, {args.concurrency} deliverers")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            rate, memory = await run_postfach(
                f"sqlite:///{tmp}/bench.db", args.count, args.concurrency
            )
            base = baseline_sqlite(Path(tmp) / "baseline.db", args.count)
        report("sqlite", rate, base, memory)
    if args.backend in ("postgresql", "both"):
        url = os.environ.get("POSTFACH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
        await reset_postgres(url)
        rate, memory = await run_postfach(url, args.count, args.concurrency)
        base = await baseline_postgres(url, args.count, args.concurrency)
        await reset_postgres(url)
        report("postgresql", rate, base, memory)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"max RSS {usage.ru_maxrss / 1024:.0f} MiB")
    print("reproduce: .venv/bin/python bench/deliver.py " + " ".join(os.sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
