"""One session's heavy command does not starve the worker (issue #14 point 1): while
SORT, THREAD or SEARCH run over a mailbox of thousands of messages, another
client's NOOPs keep being answered. Measured as the longest wait between two
NOOP replies against the heavy command's own duration, so the bound holds on a
slow machine as on a fast one; the old code held the loop for most of it. Time in
the garbage collector is left out of the waits: a full collection of this test
process's heap (~0.1-0.15 s) stops every thread whatever the command does, and
under CI's load it alone came to 0.44 of a command (the workers freeze their
start-up heap so their collections are shorter: cli/serve_app.py)."""

from __future__ import annotations

import asyncio
import gc
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tests.imap.conftest import USER

from postfach.store.blobs import prepare_blob
from postfach.store.mail import NewMessage

MESSAGES = 8000
HEAVY = (
    "SORT (SUBJECT) UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "SEARCH SENTSINCE 1-Jan-2024",
)


def message(n: int) -> bytes:
    return (
        f"From: u{n % 97}@example.net\r\nTo: a@example.org\r\nSubject: Re: topic {n % 50}\r\n"
        f"Date: {1 + n % 28:02d} Feb 2024 10:00:00 +0000\r\nMessage-ID: <m{n}@x>\r\n\r\n"
        f"body {n}\r\n"
    ).encode()


async def fill(imap, count: int) -> None:
    """Thousands of distinct messages in the INBOX, straight through the store API."""
    store = imap.ctx.store
    account = await store.accounts.get_account(USER)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    for start in range(0, count, 1000):
        batch = [prepare_blob(message(n)) for n in range(start, min(count, start + 1000))]
        await store.mail.add_messages([NewMessage(inbox.id, blob) for blob in batch])


@contextmanager
def collections_timed() -> Iterator[list[tuple[float, float]]]:
    """The (start, end) of every garbage collection meanwhile, on `time.monotonic`."""
    spans: list[tuple[float, float]] = []
    began = [0.0]

    def note(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.monotonic()
        else:
            spans.append((began[0], time.monotonic()))

    gc.callbacks.append(note)
    try:
        yield spans
    finally:
        gc.callbacks.remove(note)


def outside(start: float, end: float, spans: list[tuple[float, float]]) -> float:
    """The part of [start, end] not spent in any of `spans`."""
    inside = sum(max(0.0, min(end, b) - max(start, a)) for a, b in spans)
    return end - start - inside


async def noop_gaps(client, stop: asyncio.Event) -> list[tuple[float, float]]:
    """NOOP after NOOP until `stop`; each span between consecutive replies."""
    gaps: list[tuple[float, float]] = []
    last = time.monotonic()
    while not stop.is_set():
        _, status = await client.cmd("NOOP")
        assert status.startswith("OK")
        now = time.monotonic()
        gaps.append((last, now))
        last = now
    return gaps


async def test_heavy_commands_leave_the_worker_to_other_sessions(imap, wire):
    if imap.ctx.store.dialect != "sqlite":
        # the event loop's fairness is the IMAP layer's, whatever the backend; on
        # PostgreSQL the fill and the heavy commands alone take most of a minute
        pytest.skip("measured on SQLite")
    await fill(imap, MESSAGES)
    heavy = await wire(select="INBOX")
    other = await wire()
    waits: dict[str, float] = {}
    for command in HEAVY:
        stop = asyncio.Event()
        with collections_timed() as collecting:
            pinger = asyncio.create_task(noop_gaps(other, stop))
            await asyncio.sleep(0.01)
            started = time.monotonic()
            untagged, status = await heavy.cmd(command)
            took = time.monotonic() - started
            stop.set()
            gaps = await pinger
        assert status.startswith("OK"), status
        assert len(re.findall(r"\d+", untagged[0])) == MESSAGES  # every message, once
        assert len(gaps) > 10, gaps  # the other session was answered all along
        waits[command] = max(outside(a, b, collecting) for a, b in gaps) / took
    # The longest wait of the other session, as a share of the heavy command's time:
    # ~0.01-0.05 with the budgets, 0.03-0.06 with four such tests on two cores; 0.20-0.36
    # with the budgets' yields taken out. The median lets one stray pause pass.
    assert statistics.median(waits.values()) < 0.15, waits


async def test_thread_as_deep_as_references_go(imap, wire):
    """A chain of 1,200 replies, and one message naming 3,000 ancestors: the old
    recursive tree walk hit Python's recursion limit and ended the session."""
    store = imap.ctx.store
    inbox = await store.mailboxes.get_mailbox((await store.accounts.get_account(USER)).id, "INBOX")
    chain = [
        f"Subject: deep\r\nMessage-ID: <d{n}@x>\r\n"
        + (f"In-Reply-To: <d{n - 1}@x>\r\n" if n else "")
        + f"\r\nreply {n}\r\n"
        for n in range(1200)
    ]
    await store.mail.add_messages([NewMessage(inbox.id, prepare_blob(m.encode())) for m in chain])
    ancestors = " ".join(f"<r{n}@x>" for n in range(3000))
    await store.mail.append(
        inbox.id, f"Subject: x\r\nReferences: {ancestors}\r\n\r\nhi\r\n".encode()
    )
    c = await wire(select="INBOX")
    [line] = await c.ok("THREAD REFERENCES UTF-8 ALL")
    assert line == "* THREAD (" + " ".join(str(n) for n in range(1, 1201)) + ")(1201)"
