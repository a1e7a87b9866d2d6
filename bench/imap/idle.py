"""10,000 concurrent IDLE connections: the server's memory per connection.

Starts `postfach serve --config` (SQLite in a temporary directory, the
per-IP connection limit raised in its config, the open-files limit raised
for it and for this process with `resource.setrlimit`), with 100 accounts
whose INBOX holds 20 messages. One warm-up connection per account logs in,
selects and idles first (so every password is checked and cached and every
INBOX looked at), then the server's RSS is taken; then N connections
(default 10,000, spread over the accounts and over 127.0.0.x source
addresses) each LOGIN, SELECT INBOX and IDLE. The RSS growth divided by N is
the cost of one idle mail program connection (goal: under 40 KB). Finally
one message is appended to an account and the time until every IDLE
connection of that account has seen `* EXISTS` is reported.

    .venv/bin/python bench/imap/idle.py
    .venv/bin/python bench/imap/idle.py --connections 10000 --users 100
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import ImapClient  # noqa: E402
from servers import (  # noqa: E402
    PASSWORD,
    message,
    raise_nofile,
    start_postfach,
    stop,
    tree_rss_kb,
    user_name,
)

SOURCES = 50  # 127.0.0.2 .. 127.0.0.51: plenty of ephemeral ports for every client


async def open_idle(port: int, n: int, users: int) -> ImapClient:
    source = f"127.0.0.{2 + n % SOURCES}"
    client = await ImapClient.connect("127.0.0.1", port, local_addr=(source, 0))
    user = user_name(1 + n % users).encode()
    await client.command(b'LOGIN "%s" "%s"' % (user, PASSWORD.encode()))
    await client.command(b"SELECT INBOX")
    await client.idle_start()
    return client


async def open_many(port: int, count: int, users: int, parallel: int) -> list[ImapClient]:
    """Connection n logs in as account 1 + n % users."""
    gate = asyncio.Semaphore(parallel)

    async def one(n: int) -> ImapClient:
        async with gate:
            return await open_idle(port, n, users)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def wait_exists(client: ImapClient) -> None:
    while b"EXISTS" not in await client._line():
        pass


async def run(port: int, pid: int, args: argparse.Namespace) -> None:
    # warm-up: every account logs in (its password check, the auth cache, the
    # first look at its INBOX) four times, so that with worker processes each
    # worker has seen each account; those connections stay open
    warm = await open_many(port, args.users * 4, args.users, args.parallel)
    await asyncio.sleep(2.0)
    before = tree_rss_kb(pid)
    started = time.perf_counter()
    clients = await open_many(port, args.connections, args.users, args.parallel)
    opened = time.perf_counter() - started
    await asyncio.sleep(3.0)  # let the server settle
    after = tree_rss_kb(pid)
    print(
        f"{len(clients)} connections logged in, selected and idling in {opened:.1f} s "
        f"({len(clients) / opened:.0f} per second)"
    )
    print(
        f"server RSS (supervisor and workers): {before / 1024:.1f} MB before, "
        f"{after / 1024:.1f} MB with them"
    )
    per = (after - before) / len(clients)
    print(f"RSS growth per IDLE connection: {per:.1f} KB (goal < 40 KB)")
    poster = await ImapClient.connect("127.0.0.1", port)
    await poster.command(b'LOGIN "%s" "%s"' % (user_name(1).encode(), PASSWORD.encode()))
    watchers = [c for n, c in enumerate(clients) if n % args.users == 0]
    started = time.perf_counter()
    await poster.command(b"APPEND INBOX", message(1, 999))
    await asyncio.gather(*(wait_exists(c) for c in watchers))
    took = time.perf_counter() - started
    print(
        f"APPEND seen as EXISTS by all {len(watchers)} IDLE sessions of the account in "
        f"{took * 1000:.0f} ms"
    )
    for c in [*warm, poster, *clients]:
        c.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=200, help="logins in flight")
    parser.add_argument(
        "--workers", type=int, default=0, help="postfach worker processes (0: its default)"
    )
    args = parser.parse_args()
    limit = raise_nofile(args.connections * 2 + 1000)  # the server inherits it
    print(f"open files limit: {limit}")
    with tempfile.TemporaryDirectory(prefix="imapidle-") as tmp:

        def fill(i: int) -> list[bytes]:
            return [message(i, n, paragraphs=3) for n in range(1, args.messages + 1)]

        proc, port = start_postfach(
            Path(tmp),
            args.users,
            fill,
            limits=f"max_connections_per_ip = {args.connections + 100}\n",
            workers=args.workers,
        )
        try:
            import uvloop

            uvloop.run(run(port, proc.pid, args))
        finally:
            stop(proc)
    print(
        f"reproduce: .venv/bin/python bench/imap/idle.py --connections {args.connections} "
        f"--users {args.users} --workers {args.workers}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
