"""A 100,000-message mailbox: SELECT time and `UID FETCH 1:* (FLAGS)` time.

Fills one INBOX through `Store.add_messages` (batches of 2,000, one commit
each; a few percent of the messages carry flags), starts `postfach serve
--config` on it (SQLite in a temporary directory) and times, from the client,
each command from sending it to its tagged OK, with all responses read.
Goals: SELECT under 100 ms, the FLAGS fetch under 1 s.

    .venv/bin/python bench/imap/bigmailbox.py
    .venv/bin/python bench/imap/bigmailbox.py --messages 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import ImapClient  # noqa: E402
from servers import PASSWORD, ROOT, rss_kb, start_postfach, stop, user_name  # noqa: E402


def small_message(n: int) -> bytes:
    return (
        b"From: Sender <s%d@example.net>\r\nTo: user1@example.org\r\n"
        b"Subject: message %d\r\nMessage-ID: <%d@big.example.net>\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHello %d.\r\n" % (n % 50, n, n, n)
    )


async def flag_some(url: str, count: int) -> None:
    """Every 20th message \\Seen, every 50th \\Flagged: realistic, and not all equal."""
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.store import Store
    from postfach.store.records import Uid

    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account(user_name(1))
        assert account is not None
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        await store.mail.store_flags(
            inbox.id, [Uid(u) for u in range(1, count + 1, 20)], "add", frozenset({"\\Seen"})
        )
        await store.mail.store_flags(
            inbox.id, [Uid(u) for u in range(1, count + 1, 50)], "add", frozenset({"\\Flagged"})
        )
    finally:
        await store.close()


async def timed(client: ImapClient, command: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    data = await client.command_bulk(command)
    return time.perf_counter() - start, data


async def measure(port: int, rounds: int, count: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"SELECT": [], "UID FETCH 1:* (FLAGS)": []}
    client = await ImapClient.connect("127.0.0.1", port)
    await client.command(b'LOGIN "%s" "%s"' % (user_name(1).encode(), PASSWORD.encode()))
    for _ in range(rounds):
        took, data = await timed(client, b"SELECT INBOX")
        assert b"* %d EXISTS" % count in data, data[:200]
        out["SELECT"].append(took)
        took, data = await timed(client, b"UID FETCH 1:* (FLAGS)")
        assert data.count(b"\r\n") == count
        out["UID FETCH 1:* (FLAGS)"].append(took)
        await client.command(b"UNSELECT")
    await client.command(b"LOGOUT")
    client.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imapbig-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()

        def fill(i: int) -> list[bytes]:
            return [small_message(n) for n in range(1, args.messages + 1)]

        # One worker: every round then asks the process whose index cache the first warmed.
        proc, port = start_postfach(work, 1, fill, workers=1)
        url = f"sqlite:///{work / 'postfach' / 'postfach.db'}"
        asyncio.run(flag_some(url, args.messages))
        print(f"filled {args.messages} messages in {time.perf_counter() - started:.1f} s")
        try:
            results = asyncio.run(measure(port, args.rounds, args.messages))
            rss = rss_kb(proc.pid)
        finally:
            stop(proc)
    goals = {"SELECT": 0.1, "UID FETCH 1:* (FLAGS)": 1.0}
    for name, times in results.items():
        first, rest = times[0], times[1:] or times
        print(
            f"{name:<22} first {first * 1000:7.1f} ms  median of the rest "
            f"{statistics.median(rest) * 1000:7.1f} ms  (goal < {goals[name] * 1000:.0f} ms)"
        )
    print(f"server RSS after the runs: {rss / 1024:.0f} MB")
    print(
        f"reproduce: .venv/bin/python bench/imap/bigmailbox.py --messages {args.messages} "
        f"--rounds {args.rounds}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
