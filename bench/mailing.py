"""Bulk mailing: a 100,000-recipient campaign through two unlimited sink relays.

Measures, in one run:
1. time to import the contacts (CSV) and to queue the campaign (goal: < 30 s);
2. postfach's send rate through the relays, both Postfix `smtp-sink`
   processes on loopback (they speak SMTP and discard the data);
3. Postfix's `smtp-source` against the same sink, same message size and
   session count, as the reference (goal: postfach >= 0.7 of it).

postfach sends through its own pipelining client (RFC 2920: a message's
content goes out with the next message's MAIL, RCPT and DATA, so a message is
one write and one read), one Python process; smtp-source is C, one connection
per message (and, for comparison, all messages on one connection each). The
load average is printed before and after: on a busy machine every figure
moves, the ratio much less.

    .venv/bin/python bench/mailing.py                    # 100,000 recipients, SQLite
    .venv/bin/python bench/mailing.py --count 20000 --sessions 20
    POSTFACH_TEST_PG=postgresql://... .venv/bin/python bench/mailing.py --backend postgresql

Needs smtp-sink and smtp-source (Debian package postfix).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import free_port, wait_greeting  # bench/, this script's directory

from postfach.config import config_from_dict
from postfach.mailing.api import Mailing
from postfach.mailing.relays import RelaySettings
from postfach.store import Store

SBIN = "/usr/sbin:/usr/local/sbin:/sbin"


def tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN)
    if not found:
        raise SystemExit(f"{name} not found: apt-get install postfix")
    return found


def start_sink(port: int) -> subprocess.Popen[bytes]:
    args = [tool("smtp-sink"), "-m", "1024"]
    if os.getuid() == 0:
        args += ["-u", "nobody"]
    proc = subprocess.Popen([*args, f"127.0.0.1:{port}", "1024"])
    wait_greeting(port, b"220", "smtp-sink", timeout=25)
    return proc


def smtp_source(port: int, count: int, sessions: int, size: int, reuse: bool) -> float:
    args = [
        tool("smtp-source"), "-s", str(sessions), "-m", str(count), "-l", str(size),
        "-t", "to@bench.test", "-f", "from@bench.test", "-M", "bench-client.test",
    ]  # fmt: skip
    if reuse:
        args.append("-d")
    start = time.perf_counter()
    subprocess.run([*args, f"127.0.0.1:{port}"], check=True)
    return count / (time.perf_counter() - start)


async def postfach_run(
    args: argparse.Namespace, ports: list[int], workdir: Path
) -> dict[str, float]:
    if args.backend == "postgresql":  # empties that database: never a shared one
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from harness import reset_postgres  # type: ignore[import-not-found]

        url = os.environ["POSTFACH_TEST_PG"]
        await reset_postgres(url)
    else:
        url = f"sqlite:///{workdir / 'postfach.db'}"
    config = config_from_dict(
        {
            "server": {"hostname": "bench.example", "data_dir": str(workdir)},
            "storage": {"url": url},
        },
        "bench",
    )
    store = await Store.connect(url)
    mailing = await Mailing.open(store, config)
    for i, port in enumerate(ports):
        await mailing.add_relay(
            RelaySettings(
                name=f"sink{i}",
                kind="external",
                sender_address=f"news@sink{i}.example",
                host="127.0.0.1",
                port=port,
                security="none",
                concurrency=args.sessions,
                per_connection=args.per_connection,
            )  # fmt: skip
        )
    csv = "email,name,city\n" + "".join(
        f"user{i}@dest{i % 97}.example,User {i},City {i % 13}\n" for i in range(args.count)
    )
    body = "Hello {{ name }} from {{ city }},\n\n" + ("news of the month " * 40 + "\n") * 14
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    report = await mailing.import_csv("bench", csv)
    figures["import_s"] = time.perf_counter() - t0
    assert report.added == args.count, report.errors[:3]
    await mailing.create_campaign(
        "bench", "bench", "News for {{ name }}", text=body, from_address="shop@shop.example"
    )
    t0 = time.perf_counter()
    queued = await mailing.queue("bench")
    figures["queue_s"] = time.perf_counter() - t0
    assert queued == args.count
    t0 = time.perf_counter()
    result = await mailing.send("bench")
    elapsed = time.perf_counter() - t0
    assert result.finished and result.sent == args.count, result
    figures["send_s"] = elapsed
    figures["send_rate"] = args.count / elapsed
    await store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20, help="connections (both sides)")
    parser.add_argument("--per-connection", type=int, default=1000)
    parser.add_argument("--size", type=int, default=10240, help="smtp-source message size")
    parser.add_argument("--source-count", type=int, default=20_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    load_before = os.getloadavg()
    ports = [free_port(), free_port()]
    sinks = [start_sink(p) for p in ports]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                import uvloop

                figures = uvloop.run(postfach_run(args, ports, Path(tmp)))
            except ImportError:
                figures = asyncio.run(postfach_run(args, ports, Path(tmp)))
        one = smtp_source(ports[0], args.source_count, args.sessions, args.size, reuse=False)
        reuse = smtp_source(ports[0], args.source_count, args.sessions, args.size, reuse=True)
    finally:
        for proc in sinks:
            proc.terminate()
            proc.wait()
    print(f"command:               {' '.join(sys.argv)}")
    print(f"load average:          {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"recipients:            {args.count}")
    print(f"import CSV:            {figures['import_s']:.1f} s")
    print(f"queue campaign:        {figures['queue_s']:.1f} s (goal < 30 s)")
    print(f"postfach send:         {figures['send_rate']:.0f} msgs/s ({figures['send_s']:.1f} s)")
    print(f"smtp-source (1/conn):  {one:.0f} msgs/s")
    print(f"smtp-source (reuse):   {reuse:.0f} msgs/s")
    print(f"ratio vs 1/conn:       {figures['send_rate'] / one:.2f} (goal >= 0.7)")
    print(f"ratio vs reuse:        {figures['send_rate'] / reuse:.2f}")


if __name__ == "__main__":
    main()
