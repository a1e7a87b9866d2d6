"""Ports and TLS for tests that connect like a client."""

from __future__ import annotations

import socket
import ssl

__all__ = ["free_port", "insecure_tls_context"]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def insecure_tls_context() -> ssl.SSLContext:
    """A client context that accepts the test servers' self-signed certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
