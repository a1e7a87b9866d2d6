"""IMAP mail-program mix: postfach against Dovecot, in the same run.

N concurrent clients (default 10), each with its own account and an INBOX of
M messages (default 500, ~4 KB each), run sessions back to back for a fixed
time. One session is what a mail program does when it checks mail:

    LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), UID FETCH <3 UIDs> BODY.PEEK[],
    UID STORE <uid> +FLAGS (\\Seen), UID SEARCH UNSEEN, SEARCH SUBJECT <word>,
    APPEND (a ~4 KB message), UID STORE <new> +FLAGS.SILENT (\\Deleted),
    EXPUNGE, LOGOUT

Each command is one operation; the figure is operations per second over all
clients (the mailbox size stays constant: what a session appends it expunges).
The load runs in its own process (uvloop), postfach as `postfach serve
--config` on SQLite in a temporary directory (or the database of
--storage-url), Dovecot (Debian's `dovecot-imapd`) with a private config on
loopback.

`--profile shared` puts several sessions on one INBOX instead (bench/imap/
shared.py: clients over --users users, keyword STOREs, LIST, STATUS, APPEND,
EXPUNGE, a fresh LOGIN per session) and counts protocol errors: NO or BAD
that should not happen, message numbers never announced, keywords in FETCH
before FLAGS announced them.

    .venv/bin/python bench/imap/mix.py                   # both servers
    .venv/bin/python bench/imap/mix.py --only postfach --seconds 20
    .venv/bin/python bench/imap/mix.py --clients 20 --messages 1000 --rounds 3
    .venv/bin/python bench/imap/mix.py --profile shared --clients 50 --users 20
    .venv/bin/python bench/imap/mix.py --only postfach \\
        --storage-url postgresql://postgres@127.0.0.1/bench   # emptied first!
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import ImapClient  # noqa: E402
from servers import (  # noqa: E402
    PASSWORD,
    cpu_seconds,
    dovecot_binary,
    message,
    start_dovecot,
    start_postfach,
    stop,
    user_name,
)
from shared import OPS_PER_SESSION as SHARED_OPS  # noqa: E402
from shared import Tally, shared_session  # noqa: E402

HERE = Path(__file__).resolve()
OPS_PER_SESSION = 11


async def one_session(port: int, user: int, rng: random.Random, messages: int) -> int:
    c = await ImapClient.connect("127.0.0.1", port)
    try:
        await c.command(b'LOGIN "%s" "%s"' % (user_name(user).encode(), PASSWORD.encode()))
        await c.command(b"SELECT INBOX")
        flags = await c.command(b"FETCH 1:* (UID FLAGS)")
        uids = [int(line.split(b"UID ")[1].split()[0]) for line in flags.splitlines()]
        picks = rng.sample(uids[: messages - 1], 3)
        await c.command(b"UID FETCH %s BODY.PEEK[]" % b",".join(b"%d" % u for u in picks))
        await c.command(b"UID STORE %d +FLAGS (\\Seen)" % picks[0])
        await c.command(b"UID SEARCH UNSEEN")
        await c.command(b"SEARCH SUBJECT topic%d" % rng.randrange(10))
        await c.command(b"APPEND INBOX", message(user, rng.randrange(10**6)))
        appended = c.last.split(b"APPENDUID ")[1].split(b"]")[0].split()[1]
        await c.command(b"UID STORE %s +FLAGS.SILENT (\\Deleted)" % appended)
        await c.command(b"EXPUNGE")
        await c.command(b"LOGOUT")
    finally:
        c.close()
    return OPS_PER_SESSION


async def client_loop(port: int, client: int, args: argparse.Namespace, tally: Tally) -> int:
    rng = random.Random(client)
    deadline = time.perf_counter() + args.seconds
    ops = 0
    while time.perf_counter() < deadline:
        if args.profile == "shared":
            ops += await shared_session(port, rng.randint(1, args.users), rng, tally)
        else:
            ops += await one_session(port, client, rng, args.messages)
    return ops


async def load(port: int, args: argparse.Namespace, tally: Tally) -> float:
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(client_loop(port, i, args, tally) for i in range(1, args.clients + 1))
    )
    return sum(counts) / (time.perf_counter() - start)


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    tally = Tally()
    rate = uvloop.run(load(args.port, args, tally))
    print(json.dumps({"rate": rate, "errors": tally.counts, "examples": tally.examples}))


def run_load(port: int, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--client", "--port", str(port)]
    cmd += ["--clients", str(args.clients), "--seconds", str(seconds)]
    cmd += ["--messages", str(args.messages), "--profile", args.profile]
    cmd += ["--users", str(args.users)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def measure(name: str, port: int, pid: int, args: argparse.Namespace) -> float:
    run_load(port, args, 2.0)  # warm-up: caches, indexes, the auth cache
    rates = []
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    cpu = 0.0
    for _ in range(args.rounds):
        before = cpu_seconds(pid)
        result = run_load(port, args, args.seconds)
        rates.append(result["rate"])
        errors.update(result["errors"])
        for kind, example in result["examples"].items():
            examples.setdefault(kind, example)
        cpu += cpu_seconds(pid) - before
    ops = sum(rates) * args.seconds
    print(
        f"{name:<9} ops/s per round: {', '.join(f'{r:.0f}' for r in rates)}"
        f"  median {statistics.median(rates):.0f}; server CPU {cpu / ops * 1e3:.2f} ms per op"
        f" ({cpu / (args.seconds * args.rounds):.2f} cores busy)",
        flush=True,
    )
    if args.profile == "shared":
        listed = ", ".join(f"{kind} {n}" for kind, n in errors.most_common()) or "none"
        print(f"{'':<9} protocol errors in {args.rounds} rounds: {listed}", flush=True)
        for kind, example in examples.items():
            print(f"{'':<9}   {kind}: {example}", flush=True)
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["postfach", "dovecot"])
    parser.add_argument(
        "--profile",
        choices=["own", "shared"],
        default="own",
        help="own: each client its own INBOX; shared: clients over --users users",
    )
    parser.add_argument(
        "--users", type=int, default=20, help="accounts of the shared profile (default 20)"
    )
    parser.add_argument(
        "--storage-url",
        default="",
        help="postfach's database instead of SQLite in a temporary directory; "
        "a PostgreSQL database is emptied first",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="postfach worker processes (0: its default, CPU cores + 1)",
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0
    users = args.users if args.profile == "shared" else args.clients
    per_session = SHARED_OPS if args.profile == "shared" else OPS_PER_SESSION
    print(
        f"{args.profile} profile: {args.clients} clients over {users} users, INBOX of "
        f"{args.messages} messages (~4 KB) each, "
        f"{args.rounds} rounds of {args.seconds:.0f} s after a warm-up; "
        f"{os.cpu_count()} CPUs; {per_session} commands per session; postfach workers: "
        f"{args.workers or (os.cpu_count() or 1) + 1}; postfach storage: "
        f"{args.storage_url.split('@')[-1] or 'SQLite'}",
        flush=True,
    )

    def fill(i: int) -> list[bytes]:
        return [message(i, n) for n in range(1, args.messages + 1)]

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="imapbench-") as tmp:
        work = Path(tmp)
        if args.only != "dovecot":
            # sessions end and start back to back: room for the ones still closing
            limits = f"max_connections_per_ip = {2 * args.clients + 10}\n"
            proc, port = start_postfach(
                work, users, fill, limits, workers=args.workers, url=args.storage_url
            )
            try:
                results["postfach"] = measure("postfach", port, proc.pid, args)
            finally:
                stop(proc)
        if args.only != "postfach":
            if dovecot_binary() is None:
                print("dovecot: not installed (apt-get install -y dovecot-imapd); skipped")
            else:
                proc, port = start_dovecot(work, users, fill)
                try:
                    results["dovecot"] = measure("dovecot", port, proc.pid, args)
                finally:
                    stop(proc)
    if len(results) == 2:
        ratio = results["postfach"] / results["dovecot"]
        print(f"ratio postfach/dovecot: {ratio:.2f} (goal >= 1.0)")
    print(
        f"reproduce: .venv/bin/python bench/imap/mix.py --profile {args.profile} "
        f"--clients {args.clients} --users {args.users} "
        f"--messages {args.messages} --seconds {args.seconds:g} --rounds {args.rounds}"
        f" --workers {args.workers}" + (" --storage-url URL" if args.storage_url else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
