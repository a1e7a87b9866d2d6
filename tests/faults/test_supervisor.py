"""The supervisor of `serve --workers 2` killed, and a worker whose loop stands still.

Issue #14 points 5 and 1: SIGKILL of the supervisor alone left its workers
alive holding every listening port, so each restart failed with `Address
already in use`; a worker whose loop stopped turning froze its sessions for good.
SIGSTOP stands in for a loop that does not turn (a runaway computation, a
blocking call): the process holds everything and reacts to nothing.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import signal
import sys
from pathlib import Path

import pytest

from support.net import free_port

from .nodes import (
    PASSWORD,
    USER,
    Node,
    alive,
    listening_inodes,
    prepare,
    running,
    socket_inodes,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _imap_login(port: int) -> None:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.login(USER, PASSWORD)
    assert client.select("INBOX")[0] == "OK"
    client.logout()


@pytest.mark.parametrize("stuck", [False, True], ids=["running", "stuck"])
def test_restart_right_after_the_supervisor_is_killed(tmp_path: Path, stuck: bool) -> None:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare(url))
    ports = {name: free_port() for name in ("smtp", "imap", "pop3", "http")}
    config = write_config(tmp_path / "postfach.toml", url, ports)
    log = tmp_path / "serve.log"
    first = Node.start(config, log)
    try:
        workers = first.workers()
        assert len(workers) == 2
        # A worker holds no listening socket but worker 0's HTTP one (which it serves).
        listening = listening_inodes()
        held = {pid: socket_inodes(pid) & listening for pid in workers}
        for pid, inodes in held.items():
            assert len(inodes) == (1 if first.worker_index(pid) == 0 else 0), inodes
        if stuck:  # neither worker could react to the relay's end
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
        first.kill_supervisor()
        second = Node.start(config, log)  # at once, on the same ports
    finally:
        first.kill_group()
    try:
        assert second.ports == ports
        _imap_login(ports["imap"])
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 5)
    finally:
        second.stop()
    assert second.process.returncode == 0


def test_a_stalled_worker_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare(url))
    ports = {"imap": 0, "http": 0}
    config = write_config(tmp_path / "postfach.toml", url, ports, server="worker_stall_timeout = 3")
    log = tmp_path / "serve.log"
    with running(config, log) as node:
        workers = node.workers()
        stuck = workers[1]
        index = node.worker_index(stuck)
        os.kill(stuck, signal.SIGSTOP)
        assert wait_for(lambda: not alive(stuck), 20), log.read_text()[-2000:]
        text = log.read_text()
        assert f"worker {index}: event loop stalled for " in text
        assert "; replacing it" in text
        assert wait_for(lambda: len(node.workers()) == 2, 20)
        for _ in range(6):  # a new one and the other one both serve
            _imap_login(node.ports["imap"])
        assert stuck not in node.workers()
