"""SEARCH TEXT and BODY on a 100,000-message mailbox, with the full-text index.

Fills one INBOX through `Store.add_messages` (batches of 2,000): messages of
about 1 KB whose words come from a made-up vocabulary with a Zipf-like spread
(so a needle is rare, or in a few hundred messages, or in thousands), a tenth
of them base64 and a tenth quoted-printable, every seventh with an X-Topic
field. The index is built as the server's indexer builds it, from the queue
delivery fills (its time is printed). Starts `postfach serve --config` on it
(SQLite in a temporary directory, or the database of `--storage-url`, emptied
first) and times from the client `UID SEARCH TEXT needle` and `UID SEARCH BODY
needle`, from sending to the tagged OK. Goal: median under 50 ms. Before timing,
every needle's answer over the wire is checked against the store's scan without
the index (`indexed=False`).

    .venv/bin/python bench/imap/search.py
    .venv/bin/python bench/imap/search.py --storage-url postgresql://postgres@127.0.0.1/bench
    .venv/bin/python bench/imap/search.py --data /var/tmp/search  # kept, filled further
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import quopri
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import ImapClient  # noqa: E402
from servers import (  # noqa: E402
    PASSWORD,
    ROOT,
    fill_postfach,
    free_port,
    serve_postfach,
    stop,
    user_name,
    wait_imap,
)

GOAL_MS = 50.0
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Made-up words of 3 to 10 letters; their trigrams spread like a language's."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 10))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    return ordered


def messages(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    words = vocabulary(20_000, rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    for n in range(count):
        body = " ".join(rng.choices(words, weights, k=120)) + "\r\n"
        header = (
            b"From: Sender %d <s%d@example.net>\r\nTo: user1@example.org\r\n"
            b"Subject: note %d %s\r\nMessage-ID: <%d@search.example.net>\r\n"
            b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            % (n % 50, n % 50, n, rng.choice(words).encode(), n)
        )
        if n % 7 == 0:
            header += b"X-Topic: %s\r\n" % rng.choice(words).encode()
        data = body.encode()
        if n % 10 == 1:
            header += (
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: base64\r\n"
            )
            data = base64.encodebytes(data).replace(b"\n", b"\r\n")
        elif n % 10 == 2:
            header += (
                b"Content-Type: text/plain; charset=iso-8859-1\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n"
            )
            data = quopri.encodestring(data).replace(b"\n", b"\r\n")
        else:
            header += b"Content-Type: text/plain; charset=us-ascii\r\n"
        yield header + b"\r\n" + data


def needles(seed: int) -> list[str]:
    """Words of rank 200 (in about 6 % of the messages), 2,000 (0.6 %) and 15,000
    (0.08 %), a piece inside a word, and a word that is nowhere."""
    words = vocabulary(20_000, random.Random(seed))
    return [words[200], words[2000], words[15000], words[700][1:-1], "zzqxj"]


async def on_postgres(url: str, sql: str) -> None:
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(sql)
        await conn.close()


async def fill(url: str, count: int, seed: int) -> None:
    """user1's INBOX up to `count` messages: all of them in a new store, the rest
    in one a killed run left half filled (`--data`)."""
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.store import NewMessage, Store
    from postfach.store.blobs import prepare_blob

    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account(user_name(1))
        if account is None:
            await store.close()
            await fill_postfach(url, 1, lambda _user: messages(count, seed))
            store = await Store.connect(url)
            await index_queued(store)
            return
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        have = len((await store.mail.mailbox_index(inbox.id)).uids)
        if have >= count:
            return
        pending: list[NewMessage] = []
        for raw in itertools.islice(messages(count, seed), have, None):
            pending.append(NewMessage(inbox.id, prepare_blob(raw)))
            if len(pending) >= 2000:
                await store.mail.add_messages(pending)
                pending = []
        if pending:
            await store.mail.add_messages(pending)
    finally:
        await index_queued(store)
        await store.close()


async def index_queued(store: Any) -> None:
    """What the server's indexer does in the background, at once."""
    started = time.perf_counter()
    count = 0
    while taken := await store.mail.index_pending(2000):
        count += taken
    if count:
        print(f"indexed {count} queued messages in {time.perf_counter() - started:.1f} s")


async def scan_answers(url: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], set[int]]:
    """What the store answers without the index, and the same with it (must agree)."""
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.store import Store

    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account(user_name(1))
        assert account is not None
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        out = {}
        for where, needle in wanted:
            scan = await store.mail.search_text(inbox.id, needle, where, indexed=False)
            indexed = await store.mail.search_text(inbox.id, needle, where)
            assert scan == indexed, (where, needle, len(scan), len(indexed))
            out[where, needle] = {int(u) for u in scan}
        return out
    finally:
        await store.close()


def search_command(where: str, needle: str) -> bytes:
    return b"UID SEARCH %s %s" % (where.upper().encode(), needle.encode())


def uids_of(data: bytes) -> set[int]:
    line = data.split(b"\r\n", 1)[0]
    assert line.startswith(b"* SEARCH"), line[:100]
    return {int(x) for x in line.split()[2:]}


async def measure(
    port: int, rounds: int, expected: dict[tuple[str, str], set[int]]
) -> dict[tuple[str, str], list[float]]:
    client = await ImapClient.connect("127.0.0.1", port)
    await client.command(b'LOGIN "%s" "%s"' % (user_name(1).encode(), PASSWORD.encode()))
    await client.command(b"SELECT INBOX")
    times: dict[tuple[str, str], list[float]] = {key: [] for key in expected}
    times["noop", ""] = []  # the round trip of a command that does nothing: the floor
    for (where, needle), want in expected.items():
        data = await client.command_bulk(search_command(where, needle))
        assert uids_of(data) == want, (where, needle)
    for _ in range(rounds):
        start = time.perf_counter()
        await client.command(b"NOOP")
        times["noop", ""].append(time.perf_counter() - start)
        for where, needle in expected:
            command = search_command(where, needle)
            start = time.perf_counter()
            await client.command_bulk(command)
            times[where, needle].append(time.perf_counter() - start)
    await client.command(b"LOGOUT")
    client.close()
    return times


def write_config(data: Path, url: str, port: int) -> Path:
    off = "\n".join(
        f'{name} = ""'
        for name in (
            "smtp", "submission", "submissions", "imaps", "pop3", "pop3s", "http", "https",
            "devices", "managesieve",
        )
    )
    config = data / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = 1\n'
        f'[storage]\nurl = "{url}"\n'
        f'[listeners]\nimap = "127.0.0.1:{port}"\n{off}\n'
        "[auth]\nallow_plaintext = true\n"
    )
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--storage-url", help="a PostgreSQL database to use (emptied first)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--data",
        type=Path,
        help="a directory to keep the SQLite store in; with --storage-url: the database is"
        " kept too; either is filled further",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imapsearch-") as tmp:
        data = args.data or Path(tmp) / "postfach"
        data.mkdir(exist_ok=True)
        url = args.storage_url or f"sqlite:///{data / 'postfach.db'}"
        if args.data is None:
            asyncio.run(on_postgres(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        started = time.perf_counter()
        asyncio.run(fill(url, args.messages, args.seed))
        # The planner's statistics, as autovacuum would have them after a bulk load.
        asyncio.run(on_postgres(url, "ANALYZE"))
        print(f"filled {args.messages} messages in {time.perf_counter() - started:.1f} s")
        wanted = [(where, n) for n in needles(args.seed) for where in ("text", "body")]
        expected = asyncio.run(scan_answers(url, wanted))
        port = free_port()
        proc = serve_postfach(write_config(data, url, port), data, lambda: wait_imap(port))
        try:
            times = asyncio.run(measure(port, args.rounds, expected))
        finally:
            stop(proc)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{backend}: median of {args.rounds} rounds, answers equal to the unindexed scan")
    noop = statistics.median(times.pop(("noop", ""))) * 1000
    print(f"  NOOP (the machine's floor for a command){noop:24.1f} ms")
    medians = []
    for (where, needle), took in times.items():
        median = statistics.median(took) * 1000
        medians.append(median)
        found = len(expected[where, needle])
        print(f"  UID SEARCH {where.upper():<4} {needle:<12} {found:>6} found  {median:7.1f} ms")
    overall = statistics.median(medians)
    print(f"median over all searches {overall:.1f} ms (goal < {GOAL_MS:.0f} ms)")
    storage = f" --storage-url {args.storage_url}" if args.storage_url else ""
    print(f"reproduce: .venv/bin/python bench/imap/search.py --messages {args.messages}{storage}")
    return 0 if overall < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
