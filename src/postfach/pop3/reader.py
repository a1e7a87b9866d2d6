"""Message bytes for RETR and TOP, read a batch ahead when the store can.

Mail programs download a maildrop in order (RETR 1, RETR 2, ...). One store
call per message costs far more than the message itself, so when the store
offers `read_raws(messages) -> {message id: prefix + blob}` (one query for
many), a miss reads the wanted message together with the next live ones, up
to `BATCH_COUNT` messages or `BATCH_BYTES` octets, and keeps the rest for the
following commands. Without it, each message is one `read_raw` call.

Memory stays bounded: at most one batch per session is held, and a message is
dropped from it once RETR has sent it.
"""

from __future__ import annotations

from postfach.pop3.maildrop import Entry
from postfach.store.api import NotFound, StoreApi
from postfach.store.records import StoredMessage

__all__ = ["BATCH_BYTES", "BATCH_COUNT", "MessageReader"]

BATCH_COUNT = 256
BATCH_BYTES = 4 * 1024 * 1024

class MessageReader:
    """Reads `prefix + blob` of maildrop entries, prefetching in maildrop order."""

    def __init__(self, store: StoreApi, entries: list[Entry]) -> None:
        self._store = store
        self._entries = entries
        self._ahead: dict[int, bytes] = {}  # StoredMessage.id → bytes

    async def read(self, number: int, *, keep: bool = False) -> bytes:
        """The bytes of message `number` (1-based); raises NotFound when it is gone.

        `keep` leaves a prefetched message in the batch (TOP: a RETR may follow).
        """
        entry = self._entries[number - 1]
        key = entry.message.id
        cached = self._ahead.get(key) if keep else self._ahead.pop(key, None)
        if cached is not None:
            return cached
        batch = await self._store.mail.read_raws(self._batch(number))
        data = batch.pop(key, None)
        if data is None:
            raise NotFound(f"message {key} is gone")
        self._ahead = batch
        if keep:
            self._ahead[key] = data
        return data

    def _batch(self, number: int) -> list[StoredMessage]:
        """Message `number` and the live messages after it, within the batch limits."""
        batch = [self._entries[number - 1].message]
        size = batch[0].size
        for entry in self._entries[number:]:
            if len(batch) >= BATCH_COUNT or size + entry.size > BATCH_BYTES:
                break
            if not entry.deleted and not entry.retrieved:
                batch.append(entry.message)
                size += entry.size
        return batch
