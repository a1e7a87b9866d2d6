"""The control lines of the supervisor's relay (store/notify.py, postfach/workers.py).

Apart from notify.py, which needs the store's records, so that the supervisor
reads them without importing the store: it only accepts and hands over.
"""

from __future__ import annotations

__all__ = ["HEARTBEAT", "HEARTBEAT_INTERVAL", "READY", "closed_line", "closed_number"]

# A worker has started; its event loop still turns (every HEARTBEAT_INTERVAL s,
# for the supervisor's watchdog).
READY = b"ready\n"
HEARTBEAT = b"beat\n"
HEARTBEAT_INTERVAL = 1.0
_CLOSED = b"closed "


def closed_line(number: int) -> bytes:
    """A connection the worker was handed (net/handover.py) ended."""
    return b"%s%d\n" % (_CLOSED, number)


def closed_number(line: bytes) -> int | None:
    """The number of the handed connection `line` reports ended, or None for
    another line."""
    if not line.startswith(_CLOSED):
        return None
    try:
        return int(line[len(_CLOSED) :])
    except ValueError:
        return None
