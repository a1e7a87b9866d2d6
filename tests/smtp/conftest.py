"""SMTP test fixtures: the queue tables and a raw transcript client."""

from __future__ import annotations

import postfach.store.queue as _queue
from postfach.store import Store

# Until postfach.store.Store mixes in QueueMixin itself (the lead's part), lend
# it the queue methods; importing the module registers the queue tables.
if not issubclass(Store, _queue.QueueMixin):
    for _name, _value in vars(_queue.QueueMixin).items():
        if _name.startswith("queue_"):
            setattr(Store, _name, _value)
