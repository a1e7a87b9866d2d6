"""The supervisor's hand-over: its message says which listener an accepted
socket is for, its number, and whether the supervisor counted it against its
client address; `HandedConnections` is a worker's end of it.

Every connection of `serve --workers N` passes through the supervisor, which
sees the client's address at accept, so it keeps `limits.max_connections_per_ip`
in its memory: the workers need not agree through a shared file on each open
and close. On a listener that takes a PROXY header the client is known only
after the worker reads it, so there the worker counts (the runtime file).
The worker reports the number back when the connection ends.

Imported by the supervisor too: nothing here may pull in a worker's stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import socket
from collections.abc import Callable
from typing import Protocol

__all__ = ["Count", "HandedConnections", "TakeSocket", "decode", "encode"]


class Count(enum.Enum):
    IN = "in"  # counted in by the supervisor
    OVER = "over"  # the address has its limit open already: refuse
    WORKER = "worker"  # the worker counts (the client is behind a PROXY header)

    @property
    def admitted(self) -> bool | None:
        """The supervisor's verdict: True, False, or None (the worker decides)."""
        return {Count.IN: True, Count.OVER: False, Count.WORKER: None}[self]


def encode(listener: str, number: int, count: Count) -> bytes:
    return f"{listener} {number} {count.value}".encode("ascii")


def decode(message: bytes) -> tuple[str, int, Count] | None:
    """(listener, number, count), or None for a message this code did not write."""
    try:
        listener, number, count = message.decode("ascii").split(" ")
        return listener, int(number), Count(count)
    except ValueError:
        return None


class TakeSocket(Protocol):
    """Serves a socket accepted elsewhere; `closed()` once it ends. `admitted` is
    the supervisor's verdict on its address (net/handover.py); None: count it here."""

    def __call__(
        self, sock: socket.socket, closed: Callable[[], None] = ..., admitted: bool | None = None
    ) -> None: ...


class HandedConnections:
    """A worker's end of the supervisor's hand-over (postfach/workers.py): each
    message (net/handover.py) names a listener and carries one accepted socket.
    The worker reports every ended connection by its number, so the supervisor
    knows who is least busy and how many each address has open."""

    def __init__(self, sock: socket.socket, report_closed: Callable[[int], None]) -> None:
        self._sock = sock
        self._sock.setblocking(False)
        self._report_closed = report_closed
        self._handlers: dict[str, TakeSocket] = {}
        self._reading = False

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._receive)
        self._reading = True

    def register(self, name: str, handler: TakeSocket) -> None:
        self._handlers[name] = handler

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def _receive(self) -> None:
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(self._sock, 64, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            if not message and not fds:  # the supervisor is gone
                self.close()
                return
            decoded = decode(message)
            for fd in fds:
                conn = socket.socket(fileno=fd)
                if decoded is None:  # not the supervisor's: nothing to report
                    conn.close()
                    continue
                name, number, count = decoded
                handler = self._handlers.get(name)
                closed = functools.partial(self._report_closed, number)
                if handler is None:  # a listener this worker has stopped
                    conn.close()
                    closed()
                else:
                    handler(conn, closed, count.admitted)

    def close(self) -> None:
        if self._reading:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._reading = False
        self._sock.close()
