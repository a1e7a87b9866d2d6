"""\\Recent (RFC 3501 §2.3.2): a message is recent in exactly one session.

"This session is the first session to have been notified about this
message." The store does not keep it; this process does, in memory: per
mailbox (id and UIDVALIDITY) the highest UID any read-write IMAP4rev1 session
has been told about. A session that SELECTs a mailbox claims every message
above that mark; one that learns of a new delivery claims it unless another
session already has. EXAMINE sees the unclaimed messages as recent without
claiming them (RFC 3501 §6.3.2); IMAP4rev2 sessions (RFC 9051 dropped
\\Recent) neither see nor claim.

The first time this process looks at a mailbox, the mark is set below the
messages that entered it since the process started (`entered_at`), so
mail that arrived before any session noticed stays recent, and mail from
before a restart does not all turn recent at once.

The worker processes of `serve --workers N` share the marks through the
runtime file (store/runtime.py), so "exactly one session" holds across them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postfach.store import faults
from postfach.store.api import StoreApi, StoreError
from postfach.store.records import MailboxId, Uid
from postfach.store.runtime import RuntimeState

__all__ = ["RecentTracker", "SharedRecentTracker", "tracker_for"]

SCAN_BATCH = 32  # the newest messages first; usually one batch settles it

Key = tuple[MailboxId, int]


class RecentTracker:
    """Highest claimed UID per mailbox, for one process."""

    def __init__(self) -> None:
        self.started = time.time()
        self._high: dict[Key, int] = {}

    # The marks themselves; SharedRecentTracker keeps them in the runtime file.
    def _get(self, key: Key) -> int | None:
        return self._high.get(key)

    def _first(self, key: Key, high: int) -> None:
        self._high.setdefault(key, high)

    def _raise(self, key: Key, uid: int) -> bool:
        if uid <= self._high.get(key, 0):
            return False
        self._high[key] = uid
        return True

    def known(self, key: Key) -> bool:
        return self._get(key) is not None

    async def prime(self, store: StoreApi, key: Key, uids: Sequence[int]) -> None:
        """First look at a mailbox in this process: everything that entered it
        before the process started counts as already seen."""
        if self.known(key):
            return
        high = 0
        end = len(uids)
        while end > 0:
            start = max(0, end - SCAN_BATCH)
            batch = [Uid(u) for u in uids[start:end]]
            messages = await store.mail.get_messages(key[0], batch)
            old = [int(m.uid) for m in messages if m.entered_at < self.started]
            if old:
                high = max(old)
                break
            end = start
        self._first(key, high)

    def unclaimed(self, key: Key, uids: Sequence[int]) -> list[int]:
        """UIDs (ascending) no session has claimed yet."""
        high = self._get(key) or 0
        return [u for u in uids if u > high] if uids and uids[-1] > high else []

    def claim(self, key: Key, uid: int) -> bool:
        """Claims every UID up to `uid`; True when `uid` was not claimed before."""
        return self._raise(key, uid)

    def settled(self, key: Key, uidnext: int) -> bool:
        """True when every message below `uidnext` is known to be claimed."""
        high = self._get(key)
        return high is not None and high >= uidnext - 1


class SharedRecentTracker(RecentTracker):
    """The marks of all workers of one server, in their runtime file."""

    def __init__(self, runtime: RuntimeState) -> None:
        super().__init__()
        self._runtime = runtime
        self.started = runtime.started

    def _get(self, key: Key) -> int | None:
        return self._runtime.recent_high(key[0], key[1])

    # A runtime file that cannot be written (a full disk) costs \Recent, not
    # the command: no mark is set and nobody claims, so no message is shown
    # as recent twice.
    def _first(self, key: Key, high: int) -> None:
        try:
            self._runtime.recent_prime(key[0], key[1], high)
        except StoreError as exc:
            faults.report(exc, "imap \\Recent marks")

    def _raise(self, key: Key, uid: int) -> bool:
        try:
            return self._runtime.recent_claim(key[0], key[1], uid)
        except StoreError as exc:
            faults.report(exc, "imap \\Recent marks")
            return False


def tracker_for(runtime: RuntimeState | None) -> RecentTracker:
    """The tracker of one process (App makes it once); the workers of `serve
    --workers N` share their marks through `runtime`."""
    return RecentTracker() if runtime is None else SharedRecentTracker(runtime)
