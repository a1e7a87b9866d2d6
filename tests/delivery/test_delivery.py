"""Local delivery: aliases, statuses, trace headers, group commit, durability under SIGKILL."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from postfach.delivery import Delivery
from postfach.store import Store
from postfach.store.records import DeliveryStatus, Uid

MSG = b"From: alice@example.net\r\nSubject: hi\r\n\r\nbody\r\n"


async def _setup(store: Store) -> None:
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", "h")
    await store.accounts.add_account("carol@example.org", "h", quota_bytes=10)
    await store.accounts.add_alias("team@example.org", "bob@example.org")


async def test_statuses_and_trace_headers(store: Store) -> None:
    await _setup(store)
    delivery = Delivery(store, "mail.example.org")
    try:
        statuses = await delivery.deliver(
            MSG,
            "alice@example.net",
            ["bob@example.org", "team@example.org", "nobody@example.org", "carol@example.org"],
        )
    finally:
        await delivery.stop()
    assert statuses == {
        "bob@example.org": DeliveryStatus.DELIVERED,
        "team@example.org": DeliveryStatus.DELIVERED,
        "nobody@example.org": DeliveryStatus.UNKNOWN_USER,
        "carol@example.org": DeliveryStatus.OVER_QUOTA,
    }
    bob = await store.accounts.get_account("bob@example.org")
    assert bob is not None
    inbox = await store.mailboxes.get_mailbox(bob.id, "INBOX")
    assert inbox is not None
    # Bob gets one copy although he was named directly and through the alias.
    [message] = await store.mail.get_messages(inbox.id, [Uid(1), Uid(2)])
    raw = await store.mail.read_raw(message)
    assert raw.startswith(b"Return-Path: <alice@example.net>\r\nDelivered-To: bob@example.org\r\n")
    assert b"\r\nReceived: by mail.example.org (postfach) with local; " in raw
    assert raw.endswith(MSG)


async def test_group_commit_many_concurrent(store: Store) -> None:
    await _setup(store)
    delivery = Delivery(store, "mail.example.org")
    try:
        results = await asyncio.gather(
            *(
                delivery.deliver(MSG + str(i).encode(), "a@example.net", ["bob@example.org"])
                for i in range(200)
            )
        )
    finally:
        await delivery.stop()
    assert all(r == {"bob@example.org": DeliveryStatus.DELIVERED} for r in results)
    bob = await store.accounts.get_account("bob@example.org")
    assert bob is not None
    inbox = await store.mailboxes.get_mailbox(bob.id, "INBOX")
    assert inbox is not None
    assert [m.uid for m in await store.mail.message_index(inbox.id)] == list(range(1, 201))


async def test_save_copy_to_sent(store: Store) -> None:
    await _setup(store)
    bob = await store.accounts.get_account("bob@example.org")
    assert bob is not None
    delivery = Delivery(store, "mail.example.org")
    try:
        uid = await delivery.save_copy(bob, "\\Sent", MSG)
    finally:
        await delivery.stop()
    sent = await store.mailboxes.get_mailbox(bob.id, "Sent")
    assert sent is not None
    [message] = await store.mail.get_messages(sent.id, [uid])
    assert message.flags == {"\\Seen"} and await store.mail.read_raw(message) == MSG


DELIVERER = textwrap.dedent(
    """
    import asyncio, sys
    from postfach.delivery import Delivery
    from postfach.store import Store

    async def main(url):
        store = await Store.connect(url)
        if await store.accounts.get_domain("example.org") is None:
            await store.accounts.add_domain("example.org")
            await store.accounts.add_account("bob@example.org", "h")
        delivery = Delivery(store, "mail.example.org")
        start = int(sys.argv[2])
        counter = iter(range(start, start + 10**6))

        async def worker():
            while True:
                n = next(counter)
                raw = b"Subject: n%d\\r\\n\\r\\nmarker-%d-end\\r\\n" % (n, n)
                status = await delivery.deliver(raw, "a@example.net", ["bob@example.org"])
                assert status["bob@example.org"].value == "delivered"
                sys.stdout.write("%d\\n" % n)
                sys.stdout.flush()

        await asyncio.gather(*(worker() for _ in range(8)))

    asyncio.run(main(sys.argv[1]))
    """
)


async def _markers(url: str) -> list[int]:
    store = await Store.connect(url)
    try:
        bob = await store.accounts.get_account("bob@example.org")
        assert bob is not None
        inbox = await store.mailboxes.get_mailbox(bob.id, "INBOX")
        assert inbox is not None
        uids = [m.uid for m in await store.mail.message_index(inbox.id)]
        found = []
        for message in await store.mail.get_messages(inbox.id, uids):
            raw = await store.mail.read_raw(message)
            found.append(int(raw.split(b"marker-")[1].split(b"-end")[0]))
        return found
    finally:
        await store.close()


def test_sigkill_loses_no_returned_delivery(tmp_path: Path) -> None:
    """Kill -9 a process delivering in a loop; every delivery that returned is there, once."""
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    confirmed: set[int] = set()
    rng = random.Random(7)
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", DELIVERER, url, str(round_ * 10**6)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        target = rng.randint(50, 400)
        for count, line in enumerate(proc.stdout, 1):
            confirmed.add(int(line))
            if count >= target:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Lines the child wrote before it died were confirmed deliveries too.
        confirmed.update(int(line) for line in proc.stdout.read().splitlines())
        found = asyncio.run(_markers(url))
        assert len(found) == len(set(found)), "a delivery was stored twice"
        lost = confirmed - set(found)
        assert not lost, f"deliveries that returned are lost: {sorted(lost)[:10]}"
