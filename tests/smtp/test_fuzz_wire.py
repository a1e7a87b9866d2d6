"""Hypothesis over the wire: arbitrary command lines get an error reply and the session goes on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import make_server


@pytest.fixture(scope="module")
def smtp_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A whole server in a thread of its own, so hypothesis can drive it synchronously."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    stop = asyncio.Event()

    async def main() -> None:
        async with make_server(tmp) as server:
            ready.append(server.port("smtp"))
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    while not ready:
        threading.Event().wait(0.02)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            return lines[-2]


lines = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines, min_size=1, max_size=8))
def test_arbitrary_lines_leave_the_session_usable(smtp_port: int, batch: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", smtp_port), timeout=10) as sock:
        assert read_reply(sock).startswith(b"220")
        sock.sendall(b"EHLO fuzz.example\r\n")
        assert read_reply(sock).startswith(b"250")
        for line in batch:
            if line.strip().upper().startswith((b"QUIT", b"DATA", b"BDAT", b"AUTH", b"STARTTLS")):
                continue  # these legitimately change the dialogue
            sock.sendall(line + b"\r\n")
            reply = read_reply(sock)
            assert reply[:1] in (b"2", b"5"), reply
        sock.sendall(b"NOOP\r\n")
        assert read_reply(sock).startswith(b"250")
