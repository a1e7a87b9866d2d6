"""The supervisor's hand-over message: which listener an accepted socket is for,
its number, and whether the supervisor counted it against its client address.

Every connection of `serve --workers N` passes through the supervisor, which
sees the client's address at accept, so it keeps `limits.max_connections_per_ip`
in its memory: the workers need not agree through a shared file on each open
and close. On a listener that takes a PROXY header the client is known only
after the worker reads it, so there the worker counts (the runtime file).
The worker reports the number back when the connection ends.

Imported by the supervisor too: nothing here may pull in a worker's stack.
"""

from __future__ import annotations

import enum

__all__ = ["Count", "decode", "encode"]


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
