"""Ports and TLS for tests that connect like a client."""

from __future__ import annotations

import itertools
import os
import socket
import ssl

__all__ = ["free_port", "insecure_tls_context"]

# Ports a test names before its server binds them come from below the kernel's
# ephemeral range (32768-60999), a block of its own for each pytest-xdist
# worker: a port the kernel handed out as "free" could meanwhile become the
# source port of any outgoing connection, or another worker's choice.
_BLOCK = 2500
_FIRST = 20000


def _candidates() -> itertools.cycle[int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    start = _FIRST + (index % 5) * _BLOCK
    offset = os.getpid() % _BLOCK  # successive runs do not start on the same port
    return itertools.cycle([start + (offset + n) % _BLOCK for n in range(_BLOCK)])


_PORTS = _candidates()


def free_port() -> int:
    """A port nothing listens on now (bound, then released), not handed out before
    by this process."""
    for _ in range(_BLOCK):
        port = next(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this worker's block")


def insecure_tls_context() -> ssl.SSLContext:
    """A client context that accepts the test servers' self-signed certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
