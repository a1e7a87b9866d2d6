"""What the queue role (store/queue.py) takes and returns: plain records, so the API's
Protocols (store/api.py) can name them without importing the role."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FAILED",
    "QUEUED",
    "SENT",
    "NewQueueRecipient",
    "QueueAttempt",
    "QueueEntry",
    "QueueItem",
    "QueueMessage",
]

QUEUED, SENT, FAILED = "queued", "sent", "failed"

@dataclass(frozen=True, slots=True)
class NewQueueRecipient:
    address: str
    notify: frozenset[str] | None = None
    orcpt: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One recipient of one queued message, as a worker sees it."""

    id: int
    message_id: int
    address: str
    domain: str
    notify: frozenset[str] | None
    orcpt: tuple[str, str] | None
    status: str
    attempts: int
    next_attempt: float
    last_error: str
    owner: str = ""  # the node delivering it now ("" when none)
    lease_until: float = 0.0  # until when `owner` holds it, unless renewed

    def in_flight(self, now: float) -> bool:
        """Leased by a node that is (or was, until the lease ends) delivering it."""
        return self.status == QUEUED and bool(self.owner) and self.lease_until > now


@dataclass(frozen=True, slots=True)
class QueueAttempt:
    """How one try of one recipient ended, for `queue_finish`."""

    recipient_id: int
    status: str  # SENT, FAILED, or QUEUED again at `next_attempt`
    error: str = ""  # the remote reply, or our reason
    next_attempt: float | None = None


@dataclass(frozen=True, slots=True)
class QueueMessage:
    id: int
    sender: str
    envid: str | None
    ret: str | None
    raw: bytes
    size: int
    created: float


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A message and its recipients, for `postfach queue list`."""

    id: int
    sender: str
    size: int
    created: float
    recipients: tuple[QueueItem, ...]
