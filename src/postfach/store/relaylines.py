"""The control lines of the supervisor's relay (store/notify.py, postfach/workers.py).

Apart from notify.py, which needs the store's records, so that the supervisor
reads them without importing the store: it only accepts and hands over.
"""

from __future__ import annotations

__all__ = ["CLOSED", "HEARTBEAT", "HEARTBEAT_INTERVAL", "READY"]

# A worker has started; a connection it was handed ended; its event loop still
# turns (every HEARTBEAT_INTERVAL s, for the supervisor's watchdog).
READY = b"ready\n"
CLOSED = b"closed\n"
HEARTBEAT = b"beat\n"
HEARTBEAT_INTERVAL = 1.0
