"""Cost of the store calls every protocol command makes (SQLite, one process).

Wall and CPU time per call, averaged over N calls, for the hot look-ups and a
flag change; the figures the IMAP and POP3 per-command costs are built from.
Reads run on the event loop (store/inline_sqlite.py); each statement that went
through aiosqlite's thread instead cost a hand-over and a wake-up each way.

    .venv/bin/python bench/store.py [--calls 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable

from postfach.store import Store
from postfach.store.records import Uid


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.connect(f"sqlite:///{tmp}/bench.db")
        await store.accounts.add_domain("example.org")
        account = await store.accounts.add_account("bob@example.org", "h")
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        for i in range(50):
            await store.mail.append(inbox.id, b"Subject: %d\r\n\r\n" % i + b"x" * 10_000 + b"\r\n")
        flip = [frozenset({"\\Seen"}), frozenset({"$Work"})]
        [first] = await store.mail.get_messages(inbox.id, [Uid(1)])
        shas = [m.blob_sha256 for m in await store.mail.get_messages(inbox.id, [1, 2, 3])]
        cases: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
            ("get_account", lambda n: store.accounts.get_account("bob@example.org")),
            ("get_mailbox", lambda n: store.mailboxes.get_mailbox(account.id, "INBOX")),
            (
                "get_messages(3)",
                lambda n: store.mail.get_messages(inbox.id, [Uid(1), Uid(2), Uid(3)]),
            ),
            ("read_blob", lambda n: store.mail.read_blob(first.blob_sha256)),
            ("read_blobs(3)", lambda n: store.mail.read_blobs(shas)),
            ("list_mailboxes", lambda n: store.mailboxes.list_mailboxes(account.id)),
            ("subscriptions", lambda n: store.mailboxes.subscriptions(account.id)),
            ("mailbox_status", lambda n: store.mailboxes.mailbox_status(inbox.id)),
            (
                "store_flags",
                lambda n: store.mail.store_flags(inbox.id, [Uid(1)], "replace", flip[n % 2]),
            ),
        ]
        for name, call in cases:
            wall, cpu = time.perf_counter(), time.process_time()
            for n in range(calls):
                await call(n)
            wall = (time.perf_counter() - wall) / calls * 1000
            cpu = (time.process_time() - cpu) / calls * 1000
            print(f"{name:<16} wall {wall:.3f} ms  cpu {cpu:.3f} ms")
        await store.close()
    print(f"reproduce: .venv/bin/python bench/store.py --calls {calls}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    asyncio.run(main(parser.parse_args().calls))
