"""Worker scaling on PostgreSQL: `serve --workers 2` against `--workers 1`, IMAP, SMTP, POP3.

Usage: .venv/bin/python bench/scaling.py --storage-url postgresql://postgres@127.0.0.1/bench
       [--clients 10] [--messages 100] [--seconds 10] [--rounds 2] [--workers 1,2]

THE DATABASE IS EMPTIED (schema `public` dropped) before each server: give a
scratch database. For each worker count the bench fills the store afresh
(users user1..userN@example.org, password "pass", an INBOX of --messages ~4 KB
messages each), starts `postfach serve --workers N` with the imap, pop3 and
smtp listeners on loopback, then measures, one after the other, in a client
process of their own (uvloop when installed):

- IMAP: bench/imap/mix.py's session (LOGIN, SELECT, FETCH flags, three bodies,
  STORE, two SEARCHes, APPEND, EXPUNGE, LOGOUT) by every client in a loop: ops/s;
- POP3: bench/pop3/bench.py's session (USER, PASS, STAT, UIDL, RETR of every
  message, QUIT) by every client at once: messages/s;
- SMTP: each client keeps one connection to the MX and sends MAIL/RCPT/DATA of
  a ~4 KB message to its user in a loop (each 250 means stored): messages/s.

Each rate is the median of --rounds rounds after a warm-up; with it the
server's CPU seconds per operation (the whole process tree) and how many cores
it kept busy, and how many cores the whole machine kept busy (server, PostgreSQL
and load generator, from /proc/stat). Then the ratios --workers 2 / --workers 1
(goal >= 1.6 on two cores). The client shares the machine: on two cores, the load
generator's own CPU is what the second worker competes with, and a second worker
can add at most what the first run left idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench" / "imap"))
sys.path.insert(0, str(ROOT / "bench"))

from loopback import free_port, wait_greeting  # noqa: E402
from servers import cpu_seconds, fill_postfach, message, stop  # noqa: E402

MIX = ROOT / "bench" / "imap" / "mix.py"
POP3 = ROOT / "bench" / "pop3" / "bench.py"


# -- the SMTP client (run as `scaling.py --smtp-client`) --------------------------------


async def smtp_client(port: int, user: int, deadline: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                return line

    async def command(line: bytes, want: bytes) -> None:
        writer.write(line + b"\r\n")
        got = await reply()
        if not got.startswith(want):
            raise RuntimeError(f"{line!r}: {got!r}")

    sent = 0
    try:
        await reply()
        await command(b"EHLO bench.example.net", b"250")
        while time.perf_counter() < deadline:
            await command(b"MAIL FROM:<sender@bench.example.net>", b"250")
            await command(b"RCPT TO:<user%d@example.org>" % user, b"250")
            await command(b"DATA", b"354")
            await command(message(user, 10**6 + sent) + b".", b"250")  # + CRLF
            sent += 1
        await command(b"QUIT", b"221")
    finally:
        writer.close()
    return sent


async def smtp_load(port: int, clients: int, seconds: float) -> float:
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(smtp_client(port, user, start + seconds) for user in range(1, clients + 1))
    )
    return sum(counts) / (time.perf_counter() - start)


def run_client(cmd: list[str]) -> list[float]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    if out.lstrip().startswith("{"):  # mix.py's client answers in JSON (rate, errors)
        return [float(json.loads(out)["rate"])]
    return [float(x) for x in out.split()]


# -- one server -----------------------------------------------------------------------


def reset(url: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    asyncio.run(drop())


def start(
    work: Path, url: str, workers: int, clients: int, messages: int
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    reset(url)
    asyncio.run(
        fill_postfach(url, clients, lambda i: (message(i, n) for n in range(1, messages + 1)))
    )
    ports = {name: free_port() for name in ("imap", "pop3", "smtp")}
    off = "\n".join(
        f'{n} = ""'
        for n in (
            "submission", "submissions", "imaps", "pop3s", "http", "https", "devices",
            "managesieve",
        )
    )
    data = work / f"workers{workers}"
    data.mkdir()
    config = data / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = {workers}\n'
        f'[storage]\nurl = "{url}"\n[listeners]\n'
        + "".join(f'{name} = "127.0.0.1:{port}"\n' for name, port in ports.items())
        + f"{off}\n[auth]\nallow_plaintext = true\n"
        "[limits]\nmax_connections_per_ip = 1000\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(data / "serve.log", "wb"),  # noqa: SIM115
        cwd=ROOT,
    )
    try:
        wait_greeting(ports["imap"], b"* OK", "imap", timeout=120)
        wait_greeting(ports["pop3"], b"+OK", "pop3")
        wait_greeting(ports["smtp"], b"220", "smtp")
    except SystemExit:
        stop(proc)
        print((data / "serve.log").read_text()[-3000:], file=sys.stderr)
        raise
    return proc, ports


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat:
    the server, PostgreSQL and the load generator together."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def measure(
    name: str,
    unit: str,
    pid: int,
    rounds: int,
    one_round: callable,  # type: ignore[valid-type]
) -> float:
    one_round()  # warm-up: caches, the auth cache, prepared statements
    rates, cpu, machine = [], 0.0, 0.0
    for _ in range(rounds):
        before = cpu_seconds(pid)
        machine_before, _ = machine_busy()
        started = time.perf_counter()
        rate = one_round()
        elapsed = time.perf_counter() - started
        cpu += cpu_seconds(pid) - before
        machine += machine_busy()[0] - machine_before
        rates.append((rate, elapsed))
    work = sum(r * e for r, e in rates)
    busy = cpu / sum(e for _, e in rates)
    machine_cores = machine / sum(e for _, e in rates)
    median = statistics.median(r for r, _ in rates)
    print(
        f"  {name:<5} {median:8.0f} {unit}  (rounds: {', '.join(f'{r:.0f}' for r, _ in rates)};"
        f" server CPU {cpu / work * 1e3:.2f} ms per op, {busy:.2f} cores busy;"
        f" the machine: {machine_cores:.2f} of {os.cpu_count()} cores busy)",
        flush=True,
    )
    return median


def bench(url: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    users = [f"user{i}@example.org" for i in range(1, args.clients + 1)]
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        proc, ports = start(Path(tmp), url, workers, args.clients, args.messages)
        print(f"--workers {workers}", flush=True)
        try:
            imap_cmd = [sys.executable, str(MIX), "--client", "--port", str(ports["imap"]),
                        "--clients", str(args.clients), "--seconds", str(args.seconds),
                        "--messages", str(args.messages)]  # fmt: skip
            pop3_cmd = [sys.executable, str(POP3), "--client", "--port", str(ports["pop3"]),
                        "--users", ",".join(users), "--rounds", "1"]  # fmt: skip
            smtp_cmd = [sys.executable, str(HERE), "--smtp-client", "--port", str(ports["smtp"]),
                        "--clients", str(args.clients), "--seconds", str(args.seconds)]  # fmt: skip
            return {
                "imap": measure("IMAP", "ops/s ", proc.pid, args.rounds,
                                lambda: run_client(imap_cmd)[0]),
                "pop3": measure("POP3", "msgs/s", proc.pid, args.rounds,
                                lambda: run_client(pop3_cmd)[0]),
                "smtp": measure("SMTP", "msgs/s", proc.pid, args.rounds,
                                lambda: run_client(smtp_cmd)[0]),
            }  # fmt: skip
        finally:
            stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--storage-url", default=os.environ.get("POSTFACH_TEST_PG", ""))
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--smtp-client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_client:
        try:
            import uvloop

            rate = uvloop.run(smtp_load(args.port, args.clients, args.seconds))
        except ImportError:
            rate = asyncio.run(smtp_load(args.port, args.clients, args.seconds))
        print(f"{rate:.1f}")
        return 0
    if not args.storage_url.startswith("postgresql"):
        parser.error("--storage-url postgresql://... (or POSTFACH_TEST_PG) is needed")
    counts = [int(n) for n in args.workers.split(",")]
    print(f"{args.clients} clients, {args.messages} messages per INBOX, {args.rounds} rounds of "
          f"{args.seconds:g} s (POP3: one download of every mailbox a round); "
          f"{os.cpu_count()} CPUs; PostgreSQL", flush=True)  # fmt: skip
    results = {n: bench(args.storage_url, n, args) for n in counts}
    if len(counts) == 2:
        low, high = counts
        print(f"ratios --workers {high} / --workers {low}:")
        for protocol in ("imap", "smtp", "pop3"):
            ratio = results[high][protocol] / results[low][protocol]
            print(f"  {protocol.upper():<5} {ratio:.2f}  (goal >= 1.6 on 2 cores)")
    print(f"reproduce: .venv/bin/python bench/scaling.py --storage-url URL --clients "
          f"{args.clients} --messages {args.messages} --seconds {args.seconds:g} "
          f"--rounds {args.rounds} --workers {args.workers}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
