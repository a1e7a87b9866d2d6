"""The text indexer's process (textindexer.py), as a worker starts it: it takes
the queue in, its command line holds no storage URL (which may hold a
password), and it dies with the process that started it, SIGKILLed or not."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from harness import BACKENDS, new_inbox, storage_url
from postfach.store import Store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

# The worker's part: an IndexerProcess that starts at once; prints the child's pid.
PARENT = """
import asyncio, sys
from postfach.store import Store
from postfach.textindexer import IndexerProcess

async def main():
    url = sys.stdin.readline().strip()
    store = await Store.connect(url, migrate=False)
    indexer = IndexerProcess(store.mail, url, start_after=0, look=0.05)
    task = asyncio.create_task(indexer.run())
    while indexer.process is None:
        await asyncio.sleep(0.05)
    print(indexer.process.pid, flush=True)
    await task

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:\tZ") for line in status)
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_indexer_works_and_dies_with_its_worker(backend: str, tmp_path: Path) -> None:
    url = await storage_url(backend, tmp_path)
    store = await Store.connect(url)
    try:
        inbox = await new_inbox(store, "pdeath@example.org")
        for n in range(3):
            await store.mail.append(inbox.id, b"Subject: %d\r\n\r\nSchleusenwaerter\r\n" % n)
        parent = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PARENT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert parent.stdin is not None and parent.stdout is not None
        parent.stdin.write(url.encode() + b"\n")
        await parent.stdin.drain()
        try:
            child = int(await asyncio.wait_for(parent.stdout.readline(), 30))
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                assert b"textindexer" in cmdline.read()
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                assert url.encode() not in cmdline.read()
            deadline = time.monotonic() + 30
            while await store.mail.pending_index() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert await store.mail.pending_index() == 0  # the child took them in
            assert alive(child)  # and waits for more (IDLE_EXIT)
        finally:
            parent.kill()
            await parent.wait()
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if alive(child):
            os.kill(child, signal.SIGKILL)
            pytest.fail("the indexer outlived the worker that started it")
        assert await store.mail.search_text(inbox.id, "schleusen", "body") == {1, 2, 3}
    finally:
        await store.close()
