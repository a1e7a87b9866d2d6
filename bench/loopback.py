"""What every benchmark needs on loopback: a free port, and a server that answers.

The port accepting connections is not enough: `postfach serve` with workers
listens in its supervisor before any worker answers, so the benches wait for
the protocol's greeting on a fresh connection.
"""

from __future__ import annotations

import socket
import time

__all__ = ["free_port", "wait_greeting"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_greeting(port: int, greeting: bytes, protocol: str, timeout: float = 30.0) -> None:
    """Until a connection to 127.0.0.1:`port` is greeted with `greeting` (b"220",
    b"* OK", b"+OK"); SystemExit naming `protocol` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if sock.recv(200).startswith(greeting):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answers {protocol} on 127.0.0.1:{port}")
