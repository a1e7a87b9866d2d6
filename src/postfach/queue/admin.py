"""What `postfach queue list | retry [ID] | delete ID` does, apart from argument parsing."""

from __future__ import annotations

import time

from postfach.store.api import StoreApi
from postfach.store.queue import QueueEntry, QueueItem

__all__ = ["delete", "format_entries", "list_entries", "retry"]


async def list_entries(store: StoreApi) -> list[QueueEntry]:
    return await store.queue.entries()


async def retry(store: StoreApi, message_id: int | None = None) -> int:
    """Makes queued recipients due now; returns how many."""
    return await store.queue.retry(message_id)  # its ChangeQueued wakes the queue worker


async def delete(store: StoreApi, message_id: int) -> bool:
    return await store.queue.delete(message_id)


def format_entries(entries: list[QueueEntry], now: float | None = None) -> str:
    """A table like Postfix's mailq: ID, size, age, sender, then each recipient's state."""
    if not entries:
        return "Mail queue is empty"
    now = time.time() if now is None else now
    lines = []
    for entry in entries:
        age = _age(now - entry.created)
        lines.append(f"{entry.id:>8}  {entry.size:>9}  {age:>6}  <{entry.sender}>")
        for item in entry.recipients:
            state = _state(item, now)
            lines.append(f"{'':>8}  {item.address}  ({state}, {item.attempts} attempt(s))")
            if item.last_error:
                lines.append(f"{'':>10}{item.last_error}")
    return "\n".join(lines)


def _state(item: QueueItem, now: float) -> str:
    if item.in_flight(now):
        lease = _age(item.lease_until - now)
        return f"in flight: being sent by {_owner(item.owner)}, lease {lease} left"
    if item.status != "queued":
        return item.status
    return f"queued, next try in {_age(max(0.0, item.next_attempt - now))}"


def _owner(owner: str) -> str:
    """A queue worker's node ID, "host:pid:instance", as "host pid N"."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return f"{host} pid {pid}" if pid.isdigit() else owner


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    if seconds < 172800:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"
