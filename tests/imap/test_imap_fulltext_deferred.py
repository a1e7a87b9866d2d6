"""Deferred indexing over the wire, on SQLite and PostgreSQL: a message is found
by SEARCH TEXT/BODY the moment delivery stored it (before the indexer took it
in), and on a seeded random corpus, part indexed and part still queued, the
answers equal the unindexed scan's, before and after the queue is drained."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import os
import quopri
import random
from collections.abc import AsyncIterator

import pytest_asyncio

from harness import TestServer
from postfach.store.records import MailboxId
from postfach.textindexer import BATCH

USER = "deferred@example.org"
PASSWORD = "deferred-secret"
# Made-up words, some with letters that case-fold (ß, Ä, Ω), so needles match
# across case and encodings.
WORDS = [
    "lastkahn", "Schleuse", "PEGELSTAND", "fährmann", "Uferweg", "straße", "ÄRMEL",
    "Ωmega", "kieselstein", "Treidelpfad", "bojen", "HAFENKRAN", "ankerkette", "wellen",
    "ruder", "Leuchtturm", "möwe", "Flussbett", "kai", "zollhaus",
]


@pytest_asyncio.fixture(loop_scope="session")
async def deferred(imap: TestServer) -> AsyncIterator[TestServer]:
    await imap.add_user(USER, PASSWORD)
    yield imap


def search(server: TestServer, folder: str, key: str, needle: str) -> set[int]:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    try:
        client.login(USER, PASSWORD)
        client.select(folder)
        client.literal = needle.encode()
        status, data = client.uid("SEARCH", "CHARSET", "UTF-8", key)
        assert status == "OK", data
        return {int(n) for n in data[0].split()}
    finally:
        client.logout()


async def inbox(server: TestServer) -> MailboxId:
    account = await server.ctx.store.accounts.get_account(USER)
    assert account is not None
    mailbox = await server.ctx.store.mailboxes.get_mailbox(account.id, "INBOX")
    assert mailbox is not None
    return mailbox.id


async def test_a_delivered_message_is_found_at_once(deferred: TestServer) -> None:
    delivery = deferred.ctx.delivery
    for n in range(1, 16):
        raw = (
            b"From: shipper@example.net\r\nTo: %s\r\nSubject: load %d\r\n\r\n"
            b"Frachtbrief Nummer Lieferschein-%02d liegt bei.\r\n" % (USER.encode(), n, n)
        )
        status = await delivery.deliver(raw, "shipper@example.net", [USER])
        assert status[USER].value == "delivered"
        # Right after delivery: the indexer (idle for up to a second) has mostly
        # not taken it in yet; found either way.
        assert await asyncio.to_thread(search, deferred, "INBOX", "TEXT", f"schein-{n:02d}") == {n}
        assert await asyncio.to_thread(search, deferred, "INBOX", "BODY", "frachtbrief") == set(
            range(1, n + 1)
        )


def corpus(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for n in range(count):
        body = " ".join(rng.choices(WORDS, k=rng.randint(3, 25)))
        topic = rng.choice(WORDS)
        header = (
            f"From: Sender {n} <s{n}@example.net>\r\nTo: {USER}\r\nSubject: note {n}\r\n"
            f"X-Topic: {topic}\r\nMIME-Version: 1.0\r\n"
        ).encode()
        kind = rng.choice(("plain", "qp", "base64"))
        if kind == "base64":
            header += b"Content-Type: text/plain; charset=utf-8\r\n"
            header += b"Content-Transfer-Encoding: base64\r\n"
            data = base64.encodebytes(body.encode())
        elif kind == "qp":
            header += b"Content-Type: text/plain; charset=utf-8\r\n"
            header += b"Content-Transfer-Encoding: quoted-printable\r\n"
            data = quopri.encodestring(body.encode())
        else:
            header += b"Content-Type: text/plain; charset=utf-8\r\n"
            data = body.encode()
        out.append(header + b"\r\n" + data)
    return out


def needles(rng: random.Random) -> list[str]:
    """Whole words in another case, pieces inside words, pieces across a space,
    two-letter pieces (no trigram: always scanned), and words nowhere."""
    out = [w.swapcase() for w in rng.sample(WORDS, 6)]
    for word in rng.sample(WORDS, 6):
        start = rng.randint(0, max(len(word) - 3, 0))
        out.append(word[start : start + rng.randint(3, 6)])
    out += [f"{rng.choice(WORDS)[-2:]} {rng.choice(WORDS)[:2]}" for _ in range(3)]
    out += ["ße", "kai", "zollhäuser", "x-topic: bojen", "sender 1"]
    return out


async def test_random_corpus_answers_equal_the_unindexed_scan(deferred: TestServer) -> None:
    store = deferred.ctx.store
    rng = random.Random(2216)
    box = await inbox(deferred)
    for n, raw in enumerate(corpus(rng, 60)):
        await store.mail.append(box, raw)
        if n % 7 == 0:  # the indexer takes some in; the rest stays queued
            await store.mail.index_pending(rng.randint(1, 5))
    probes = needles(rng)
    keys = {"TEXT": "text", "BODY": "body"}
    for drained in (False, True):
        if drained:
            while await store.mail.index_pending(100):
                pass
            assert await store.mail.pending_index() == 0
        for needle in probes:
            for key, where in keys.items():
                wire = await asyncio.to_thread(search, deferred, "INBOX", key, needle)
                scan = await store.mail.search_text(box, needle, where, indexed=False)
                assert wire == {int(u) for u in scan}, (drained, key, needle)
    # Not vacuous: the needles find something, and not everything.
    everything = await store.mail.search_text(box, "example.net", "text", indexed=False)
    assert len(everything) == 60
    hits = [await store.mail.search_text(box, n, "body", indexed=False) for n in probes]
    assert any(0 < len(h) < 60 for h in hits)


async def test_the_servers_indexer_process_takes_the_queue_in(deferred: TestServer) -> None:
    """As the server runs it: a process of its own, started by the server once a
    batch waits; SEARCH answers the same before and after it took them in."""
    store = deferred.ctx.store
    indexer = deferred.app.indexer
    assert indexer is not None
    box = await inbox(deferred)
    for n in range(BATCH + 20):
        await store.mail.append(box, b"Subject: n%d\r\n\r\nSchiffshebewerk %03d\r\n" % (n, n))
    before = await asyncio.to_thread(search, deferred, "INBOX", "BODY", "hebewerk 117")
    pids = set()
    for _ in range(600):
        if indexer.process is not None:
            pids.add(indexer.process.pid)
        if not await store.mail.pending_index():
            break
        await asyncio.sleep(0.1)
    assert await store.mail.pending_index() == 0
    assert pids and os.getpid() not in pids
    after = await asyncio.to_thread(search, deferred, "INBOX", "BODY", "hebewerk 117")
    assert before == after == {118}
    assert await asyncio.to_thread(search, deferred, "INBOX", "TEXT", "schiffshebewerk") == set(
        range(1, BATCH + 21)
    )
