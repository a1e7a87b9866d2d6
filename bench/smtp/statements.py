"""SQL statements per message accepted over SMTP: the robust figure behind bench.py.

Runs the App in this process on a temporary SQLite database (the MX listener
only, like bench.py's postfach), sends --messages messages of --size bytes,
one per connection, from the internet's side (no AUTH) to one local user, and
counts what SQLite executed meanwhile through the trace callback of every
connection (SQLAlchemy's, the raw driver's fast path and the delivery fast
path alike). Prints the statements per message and the most frequent ones.
Statements of timers (the pollers, 2-4 a second) are counted too; the figure
for an idle second of the same length is printed beside it.

    PYTHONPATH=src .venv/bin/python bench/smtp/statements.py [--messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import smtplib
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

COUNTS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()
_connect = sqlite3.connect


def _traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(_count)
    return conn


def _count(sql: str) -> None:
    key = re.sub(r"'[^']*'|\b\d+\b", "?", re.sub(r"\s+", " ", sql.strip()))[:90]
    if key.startswith("--"):  # trigger bodies are reported as comments: not a statement sent
        return
    with _LOCK:
        COUNTS[key] += 1


sqlite3.connect = _traced  # aiosqlite and the fast path connect through it

from postfach.app import App  # noqa: E402
from postfach.auth.passwords import hash_password_async  # noqa: E402
from postfach.config import config_from_dict  # noqa: E402

RCPT = "to@bench.test"


def _message(n: int, size: int) -> bytes:
    body = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n" * (size // 58 + 1))[
        :size
    ]
    head = (
        f"From: Sender <from@bench-client.test>\r\nTo: {RCPT}\r\n"
        f"Subject: statements {n}\r\nMessage-ID: <{n}.{time.time()}@bench-client.test>\r\n\r\n"
    )
    return head.encode() + body


def _send(port: int, count: int, size: int) -> None:
    for n in range(count):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench-client.test") as smtp:
            smtp.sendmail("from@bench-client.test", [RCPT], _message(n, size))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="statements-") as tmp:
        data = Path(tmp)
        listeners = {name: "" for name in ("submission", "submissions", "devices", "imap")}
        listeners |= {name: "" for name in ("imaps", "pop3", "pop3s", "http", "https")}
        listeners |= {"managesieve": "", "smtp": "127.0.0.1:0"}
        config = config_from_dict(
            {
                "server": {"hostname": "bench-mx.test", "data_dir": str(data)},
                "storage": {"url": f"sqlite:///{data / 'postfach.db'}"},
                "listeners": listeners,
                "limits": {"max_connections_per_ip": 1000},
            },
            "statements",
        )
        app = App(config)
        await app.start()
        try:
            store = app.ctx.store
            await store.accounts.add_domain("bench.test")
            await store.accounts.add_account(RCPT, await hash_password_async("bench"))
            port = app.port("smtp")
            await asyncio.to_thread(_send, port, 20, args.size)  # warm: caches, pools
            COUNTS.clear()
            start = time.monotonic()
            await asyncio.to_thread(_send, port, args.messages, args.size)
            busy = time.monotonic() - start
            sent = dict(COUNTS)
            COUNTS.clear()
            await asyncio.sleep(busy)
            idle = sum(COUNTS.values())
        finally:
            await app.stop()
    total = sum(sent.values())
    print(f"{args.messages} messages in {busy:.1f} s: {total} statements, "
          f"{total / args.messages:.2f} per message "
          f"(an idle {busy:.1f} s: {idle}, {idle / args.messages:.2f} per message)")  # fmt: skip
    for sql, n in sorted(sent.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{n / args.messages:7.2f}  {sql}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--top", type=int, default=25)
    asyncio.run(main(parser.parse_args()))
