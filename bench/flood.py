"""Floods against every listener while one normal client works: is it still served?

Starts its own `postfach serve --config` (SQLite in a temporary directory; the
imap, pop3, smtp and http listeners on loopback ports; the configured limits
left at postfach's defaults) with a few accounts whose INBOX holds 50
messages. Then, one phase after another, each `--duration` seconds long:

- baseline: no flood;
- idle: `--connections` connections (spread over the four listeners and over
  `--addresses` source addresses 127.0.0.2, 127.0.0.3, ...) that send nothing;
- slow: as many connections that send an unfinished request (an HTTP header
  block, an IMAP, POP3 or SMTP command line) one byte per second;
- wildcard: `--wildcard-clients` IMAP sessions that each create a long mailbox
  name and send `LIST "" "*%*%...x"` (`--wildcard-pairs` pairs) again and
  again; a command not answered within `--command-timeout` seconds is dropped
  with its connection and the client logs in again (the server may still be
  working on it: that is what this phase measures).

Each flood runs in a child process of this script (so its own work does not
slow the measuring client) and ends by itself after the phase. Throughout,
the normal client on 127.0.0.1 repeats one round: connect, LOGIN, SELECT INBOX,
FETCH 1:50 (FLAGS ENVELOPE), LOGOUT, and one HTTP GET of /login. The script
prints the median and 95th-percentile round time of each phase and its ratio
to the baseline (goal: under 2x), and the command that reproduces the run.

    .venv/bin/python bench/flood.py
    .venv/bin/python bench/flood.py --connections 400 --addresses 20 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "imap"))

from client import ImapClient, ImapError  # noqa: E402
from loopback import free_port, wait_greeting  # noqa: E402
from servers import (  # noqa: E402
    PASSWORD,
    fill_postfach,
    message,
    raise_nofile,
    serve_postfach,
    stop,
    user_name,
)

LISTENERS = ("imap", "pop3", "smtp", "http")
GREETINGS = {"imap": b"* OK", "pop3": b"+OK", "smtp": b"220", "http": b""}
# What a slow client has sent before it starts to dribble, one byte a second.
SLOW_START = {
    "imap": b"a1 LOGIN user",
    "pop3": b"USER user",
    "smtp": b"EHLO client",
    "http": b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
}
ROUND_TIMEOUT = 60.0  # a measuring round that takes longer counts as failed
MESSAGES = 50
HTTP_GET = b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


# -- the server ------------------------------------------------------------------


def start_server(
    work: Path, users: int, workers: int
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {name: free_port() for name in LISTENERS}
    data = work / "postfach"
    data.mkdir()
    url = f"sqlite:///{data / 'postfach.db'}"
    off = "\n".join(
        f'{name} = ""'
        for name in (
            "submission", "submissions", "imaps", "pop3s", "devices", "https", "managesieve",
        )  # fmt: skip
    )
    on = "\n".join(f'{name} = "127.0.0.1:{port}"' for name, port in ports.items())
    config = data / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = {workers}\n'
        f'[storage]\nurl = "{url}"\n'
        f"[listeners]\n{on}\n{off}\n"
        "[auth]\nallow_plaintext = true\n"
    )
    asyncio.run(
        fill_postfach(url, users, lambda i: [message(i, n, 3) for n in range(1, MESSAGES + 1)])
    )

    def ready() -> None:
        for name in ("imap", "pop3", "smtp"):
            wait_greeting(ports[name], GREETINGS[name], name.upper(), 60)

    return serve_postfach(config, data, ready), ports


# -- the normal client -----------------------------------------------------------


async def imap_round(port: int) -> None:
    client = await ImapClient.connect("127.0.0.1", port)
    try:
        await client.command(b'LOGIN "%s" "%s"' % (user_name(1).encode(), PASSWORD.encode()))
        await client.command(b"SELECT INBOX")
        await client.command(b"FETCH 1:%d (FLAGS ENVELOPE)" % MESSAGES)
        await client.command(b"LOGOUT")
    finally:
        client.close()


async def http_round(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HTTP_GET)
        response = await reader.read()
        if not response.startswith(b"HTTP/1.1 200 "):
            raise ConnectionError(response[:60].decode(errors="replace"))
    finally:
        writer.close()


@dataclass
class Phase:
    name: str
    imap: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    failed: int = 0
    flood: dict[str, int] = field(default_factory=dict)


async def timed(round_: asyncio.Future[None] | asyncio.Task[None]) -> float | None:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(round_, ROUND_TIMEOUT)
    except (OSError, ImapError, TimeoutError, asyncio.IncompleteReadError):
        return None
    return time.perf_counter() - started


async def measure(phase: Phase, ports: dict[str, int], duration: float) -> None:
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        for kind, samples in (("imap", phase.imap), ("http", phase.http)):
            round_ = imap_round if kind == "imap" else http_round
            took = await timed(asyncio.ensure_future(round_(ports[kind])))
            if took is None:
                phase.failed += 1
            else:
                samples.append(took)
        await asyncio.sleep(0.1)


async def run_phase(
    name: str, ports: dict[str, int], args: argparse.Namespace, flood: bool
) -> Phase:
    phase = Phase(name)
    if not flood:
        await measure(phase, ports, args.duration)
        return phase
    command = [
        sys.executable,
        str(HERE),
        "--flood",
        name,
        "--ports",
        json.dumps(ports),
        *_flood_options(args),
    ]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    try:
        ready = await asyncio.wait_for(child.stdout.readline(), args.duration + 60)
        if ready.strip() != b"ready":
            raise SystemExit(f"the {name} flood did not start: {ready!r}")
        await measure(phase, ports, args.duration)
        summary = await asyncio.wait_for(child.stdout.readline(), args.duration + 60)
        phase.flood = json.loads(summary) if summary.strip() else {}
    finally:
        if child.returncode is None:
            try:
                await asyncio.wait_for(child.wait(), 15)
            except TimeoutError:
                child.kill()  # the child this script started, by its own handle
                await child.wait()
    return phase


def _flood_options(args: argparse.Namespace) -> list[str]:
    return [
        f"--connections={args.connections}",
        f"--addresses={args.addresses}",
        f"--duration={args.duration}",
        f"--wildcard-clients={args.wildcard_clients}",
        f"--wildcard-pairs={args.wildcard_pairs}",
        f"--command-timeout={args.command_timeout}",
    ]


# -- the floods (in a child process) ---------------------------------------------


def source(n: int, addresses: int) -> str:
    return f"127.0.0.{2 + n % addresses}"


async def open_flood(
    ports: dict[str, int], args: argparse.Namespace, counts: dict[str, int]
) -> list[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]]:
    """`--connections` connections over the listeners and source addresses."""
    opened = []
    for n in range(args.connections):
        listener = LISTENERS[n % len(LISTENERS)]
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", ports[listener], local_addr=(source(n, args.addresses), 0)
                ),
                10,
            )
        except (OSError, TimeoutError):
            counts["connect_failed"] += 1
            continue
        opened.append((listener, reader, writer))
    counts["opened"] = len(opened)
    return opened


async def idle_or_slow(
    ports: dict[str, int], args: argparse.Namespace, slow: bool
) -> dict[str, int]:
    counts = {"connect_failed": 0, "closed_by_server": 0}
    conns = await open_flood(ports, args, counts)
    if slow:
        for listener, _reader, writer in conns:
            writer.write(SLOW_START[listener])
    print("ready", flush=True)
    deadline = time.monotonic() + args.duration
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        if slow:
            for _listener, _reader, writer in conns:
                if not writer.is_closing():
                    writer.write(b"x")
    for _listener, reader, writer in conns:
        # What the server said by now: a greeting, a refusal, a timeout and EOF.
        if reader.at_eof() or writer.transport.is_closing():
            counts["closed_by_server"] += 1
        writer.close()
    return counts


async def wildcard(ports: dict[str, int], args: argparse.Namespace) -> dict[str, int]:
    counts = {"answered": 0, "timed_out": 0, "failed": 0}
    pattern = b'LIST "" "%sx"' % (b"*%" * args.wildcard_pairs)
    clients: list[ImapClient | None] = [None] * args.wildcard_clients

    async def login(i: int) -> ImapClient:
        client = await ImapClient.connect(
            "127.0.0.1", ports["imap"], (source(i, args.addresses), 0)
        )
        await client.command(b'LOGIN "%s" "%s"' % (user_name(2 + i).encode(), PASSWORD.encode()))
        return client

    for i in range(args.wildcard_clients):
        first = clients[i] = await login(i)
        try:
            await first.command(b'CREATE "%s"' % (b"a" * 20))
        except ImapError:
            pass  # there from an earlier run
    print("ready", flush=True)
    deadline = time.monotonic() + args.duration

    async def loop(i: int) -> None:
        while time.monotonic() < deadline:
            client = clients[i]
            try:
                if client is None:
                    client = await asyncio.wait_for(login(i), args.command_timeout)
                    clients[i] = client
                await asyncio.wait_for(client.command(pattern), args.command_timeout)
                counts["answered"] += 1
            except TimeoutError:
                counts["timed_out"] += 1
                if client is not None:
                    client.close()
                clients[i] = None
            except (OSError, ImapError):
                counts["failed"] += 1
                clients[i] = None
                await asyncio.sleep(0.5)

    await asyncio.gather(*(loop(i) for i in range(args.wildcard_clients)))
    for client in clients:
        if client is not None:
            client.close()
    return counts


def flood_main(args: argparse.Namespace) -> int:
    ports = json.loads(args.ports)
    if args.flood == "wildcard":
        counts = asyncio.run(wildcard(ports, args))
    else:
        counts = asyncio.run(idle_or_slow(ports, args, slow=args.flood == "slow"))
    print(json.dumps(counts), flush=True)
    return 0


# -- the report ------------------------------------------------------------------


def ms(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return 1000 * ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def report(phases: list[Phase]) -> None:
    base = phases[0]
    base_imap = statistics.median(base.imap) if base.imap else float("nan")
    base_http = statistics.median(base.http) if base.http else float("nan")
    print(
        f"{'phase':<9} {'IMAP round ms (median/p95)':>27} {'x base':>7} "
        f"{'HTTP GET ms (median/p95)':>25} {'x base':>7} {'failed':>6}  flood"
    )
    for p in phases:
        imap_med = statistics.median(p.imap) if p.imap else float("nan")
        http_med = statistics.median(p.http) if p.http else float("nan")
        print(
            f"{p.name:<9} {ms(p.imap, 0.5):>14.1f} / {ms(p.imap, 0.95):>9.1f} "
            f"{imap_med / base_imap:>7.2f} {ms(p.http, 0.5):>12.1f} / {ms(p.http, 0.95):>9.1f} "
            f"{http_med / base_http:>7.2f} {p.failed:>6}  {json.dumps(p.flood) if p.flood else ''}"
        )


async def run(ports: dict[str, int], args: argparse.Namespace) -> list[Phase]:
    phases = [await run_phase("baseline", ports, args, flood=False)]
    for name in args.phases.split(","):
        phases.append(await run_phase(name, ports, args, flood=True))
        await asyncio.sleep(2)  # the flood's connections close before the next phase
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=400, help="per flood phase")
    parser.add_argument("--addresses", type=int, default=20, help="127.0.0.2 and up")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--workers", type=int, default=2, help="postfach worker processes")
    parser.add_argument("--phases", default="idle,slow,wildcard")
    parser.add_argument("--wildcard-clients", type=int, default=3)
    parser.add_argument("--wildcard-pairs", type=int, default=6)
    parser.add_argument("--command-timeout", type=float, default=5.0)
    parser.add_argument("--flood", help=argparse.SUPPRESS)  # the child's role
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        return flood_main(args)
    if not 1 <= args.addresses <= 250:
        parser.error("--addresses: 1 to 250")
    limit = raise_nofile(args.connections * 2 + 1000)  # the server and the child inherit it
    print(f"open files limit: {limit}; {args.connections} connections per flood phase")
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        proc, ports = start_server(Path(tmp), 2 + args.wildcard_clients, args.workers)
        try:
            phases = asyncio.run(run(ports, args))
        finally:
            stop(proc)
    report(phases)
    print(
        f"reproduce: .venv/bin/python bench/flood.py --connections {args.connections} "
        f"--addresses {args.addresses} --duration {args.duration:g} --workers {args.workers} "
        f"--phases {args.phases} --wildcard-clients {args.wildcard_clients} "
        f"--wildcard-pairs {args.wildcard_pairs} --command-timeout {args.command_timeout:g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
