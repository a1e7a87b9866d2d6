"""Crash safety of acceptance: SIGKILL under load loses no acknowledged message.

`postfach serve` runs as a real process (SQLite, the `smtp` listener on a free
loopback port). Several client threads send messages, each with a unique marker,
one connection per few messages. At a random moment (seeded) the server is
killed with SIGKILL, then started again; this goes on for several rounds. After
the last round the server stops and the mailbox is read through the store: every
message that got `250` after DATA must be there exactly once, and no message may
be there twice (those whose reply was lost may be there once or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import postfach
from postfach.auth.passwords import hash_password_async
from postfach.store import Store
from smtp.smtpmailbox import messages_in
from support.net import free_port

SRC = str(Path(postfach.__file__).resolve().parents[1])
SEED = 20240611
ROUNDS = 3
CLIENTS = 6
MESSAGES_PER_CONNECTION = 3
RCPT = "crash@crash.test"
_MARKER = re.compile(rb"X-Crash-Marker: (\S+)")


def write_config(tmp_path: Path, port: int) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    off = ("submission", "submissions", "devices", "imap", "imaps", "pop3", "pop3s")
    off += ("http", "https", "managesieve")
    lines = [
        "[server]",
        'hostname = "crash-mx.test"',
        f'data_dir = "{tmp_path / "data"}"',
        "[storage]",
        f'url = "{url}"',
        "[listeners]",
        *(f'{name} = ""' for name in off),
        f'smtp = "127.0.0.1:{port}"',
        "[limits]",
        "max_connections_per_ip = 1000",
    ]
    path = tmp_path / "postfach.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, url


async def prepare(url: str) -> None:
    store = await Store.connect(url)
    try:
        await store.accounts.add_domain("crash.test")
        await store.accounts.add_account(RCPT, await hash_password_async("crash"))
    finally:
        await store.close()


def start_server(config: Path, port: int) -> subprocess.Popen[bytes]:
    log = config.with_name("server.log")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postfach", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**os.environ, "PYTHONPATH": SRC},  # the code under test, not another copy
            start_new_session=True,  # its own process group: the crash takes every worker
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            # The greeting, not just the port: with worker processes the
            # supervisor listens well before a worker answers.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if sock.recv(100).startswith(b"220"):
                    return proc
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start listening")


@dataclass
class Ledger:
    """What the clients know: markers acknowledged with 250, and those left in doubt."""

    acked: set[str] = field(default_factory=set)
    doubtful: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, marker: str, ok: bool) -> None:
        with self.lock:
            (self.acked if ok else self.doubtful).add(marker)


def message(marker: str) -> bytes:
    body = (f"line {marker} " * 8 + "\r\n") * 40
    return (
        f"From: sender@example.net\r\nTo: {RCPT}\r\nSubject: crash {marker}\r\n"
        f"X-Crash-Marker: {marker}\r\n\r\n{body}"
    ).encode()


def client(port: int, name: str, ledger: Ledger, stop: threading.Event) -> None:
    """Sends until the server dies (or `stop`); every attempt lands in the ledger."""
    count = 0
    while not stop.is_set():
        try:
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
        except OSError:
            return
        try:
            for _ in range(MESSAGES_PER_CONNECTION):
                count += 1
                marker = f"{name}-{count}"
                try:
                    smtp.sendmail("sender@example.net", [RCPT], message(marker))
                except (smtplib.SMTPException, OSError):
                    ledger.record(marker, False)
                    return
                ledger.record(marker, True)
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            return
        finally:
            smtp.close()


def load_and_kill(
    config: Path, port: int, round_no: int, rng: random.Random, ledger: Ledger
) -> None:
    server = start_server(config, port)
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(port, f"r{round_no}c{i}", ledger, stop))
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(rng.uniform(0.4, 2.0))
        os.killpg(server.pid, signal.SIGKILL)  # the supervisor and its workers at once
        server.wait(10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    # Below the ephemeral range: the server must get it back at every restart.
    port = free_port()
    config, url = write_config(tmp_path, port)
    asyncio.run(prepare(url))
    rng = random.Random(SEED)
    ledger = Ledger()
    for round_no in range(ROUNDS):
        load_and_kill(config, port, round_no, rng, ledger)
    # One clean run after the last crash: the server recovers and takes mail again.
    server = start_server(config, port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("sender@example.net", [RCPT], message("after-crash"))
        ledger.record("after-crash", True)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    assert len(ledger.acked) >= ROUNDS * CLIENTS, "too little load to mean anything"

    async def markers() -> list[str]:
        store = await Store.connect(url)
        try:
            raws = await messages_in(store, RCPT)
        finally:
            await store.close()
        found = []
        for raw in raws:
            match = _MARKER.search(raw)
            assert match is not None and raw.endswith(message(match.group(1).decode())[-200:])
            found.append(match.group(1).decode())
        return found

    found = asyncio.run(markers())
    counts = {m: found.count(m) for m in set(found)}
    missing = sorted(ledger.acked - counts.keys())
    assert not missing, f"acknowledged but lost: {missing[:10]} ({len(missing)})"
    assert all(n == 1 for n in counts.values()), "a message was stored twice"
    assert counts.keys() <= ledger.acked | ledger.doubtful, "a message nobody sent"
