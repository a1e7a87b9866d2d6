"""The selected mailbox as this session's client knows it (RFC 9051 §5.5, §7.4.1).

Three parallel lists, index = sequence number - 1: UIDs (ascending), flag
sets (interned, so 100,000 messages share a handful of frozensets) and
modseqs. Changes from the store hub are folded in with `apply`; they become
untagged responses only in `flush`, which each command calls at its end (and
IDLE at once). Expunges wait in `pending_expunge` until a command that may
announce them (never during non-UID FETCH, STORE or SEARCH), so sequence
numbers never move under the client's feet.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from postfach.imap.grammar import compact_uids
from postfach.store.events import Change, ChangeAddUid, ChangeExpunge, ChangeFlags
from postfach.store.records import Mailbox, MailboxId, MessageMeta

__all__ = ["SelectedView", "format_flags"]


def format_flags(flags: frozenset[str]) -> bytes:
    """`(\\Seen $Junk)`: system flags first, in a stable order."""
    ordered = sorted(flags, key=lambda f: (f == "\\*", not f.startswith("\\"), f.lower()))
    return ("(" + " ".join(ordered) + ")").encode("utf-8", "replace")


@dataclass(slots=True)
class SelectedView:
    mailbox_id: MailboxId
    name: str
    readonly: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    uids: list[int] = field(default_factory=list)
    flags: list[frozenset[str]] = field(default_factory=list)
    modseqs: list[int] = field(default_factory=list)
    pending_expunge: set[int] = field(default_factory=set)
    flags_changed: set[int] = field(default_factory=set)
    announced_exists: int = 0
    # Per-session \Recent is not kept (IMAP4rev2 dropped it); RECENT is reported as 0.
    _interned: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, mailbox: Mailbox, index: list[MessageMeta], readonly: bool) -> SelectedView:
        view = cls(
            mailbox.id,
            mailbox.name,
            readonly,
            mailbox.uidvalidity,
            int(mailbox.uidnext),
            int(mailbox.highestmodseq),
        )
        intern = view._interned.setdefault
        view.uids = [int(m.uid) for m in index]
        view.flags = [intern(m.flags, m.flags) for m in index]
        view.modseqs = [int(m.modseq) for m in index]
        if view.uids:
            view.uidnext = max(view.uidnext, view.uids[-1] + 1)
            view.highestmodseq = max(view.highestmodseq, max(view.modseqs))
        view.announced_exists = len(view.uids)
        return view

    def __len__(self) -> int:
        return len(self.uids)

    def index_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i
        return None

    def intern(self, flags: frozenset[str]) -> frozenset[str]:
        return self._interned.setdefault(flags, flags)

    def keywords(self) -> set[str]:
        out: set[str] = set()
        for flags in self._interned:
            out.update(f for f in flags if not f.startswith("\\"))
        return out

    # -- folding changes in ----------------------------------------------------

    def apply(self, change: Change) -> None:
        """Folds one committed change in; duplicates (our own, or seen at SELECT) are ignored."""
        if isinstance(change, ChangeAddUid):
            if change.mailbox_id == self.mailbox_id and change.uid >= self.uidnext:
                self.uids.append(int(change.uid))
                self.flags.append(self.intern(change.flags))
                self.modseqs.append(int(change.modseq))
                self.uidnext = int(change.uid) + 1
                self.highestmodseq = max(self.highestmodseq, int(change.modseq))
        elif isinstance(change, ChangeFlags):
            if change.mailbox_id == self.mailbox_id:
                self.set_flags(int(change.uid), change.flags, int(change.modseq), notify=True)
        elif isinstance(change, ChangeExpunge) and change.mailbox_id == self.mailbox_id:
            for uid in change.uids:
                if self.index_of(int(uid)) is not None:
                    self.pending_expunge.add(int(uid))
            self.highestmodseq = max(self.highestmodseq, int(change.modseq))

    def set_flags(self, uid: int, flags: frozenset[str], modseq: int, notify: bool) -> bool:
        i = self.index_of(uid)
        if i is None or modseq <= self.modseqs[i]:
            return False
        self.flags[i] = self.intern(flags)
        self.modseqs[i] = modseq
        self.highestmodseq = max(self.highestmodseq, modseq)
        if notify:
            self.flags_changed.add(uid)
        return True

    def own_flags(self, metas: list[MessageMeta]) -> None:
        """Flags this session stored; it reports them itself (or not, for .SILENT)."""
        for m in metas:
            self.set_flags(int(m.uid), m.flags, int(m.modseq), notify=False)

    # -- announcing ----------------------------------------------------------------

    def take_expunged(self) -> list[tuple[int, int]]:
        """Removes pending expunges; returns (sequence number at announcement, uid) in order.

        Messages the client was never told about (past `announced_exists`) go silently.
        """
        if not self.pending_expunge:
            return []
        gone = sorted(i for i in (self.index_of(u) for u in self.pending_expunge) if i is not None)
        self.pending_expunge.clear()
        known = [i for i in gone if i < self.announced_exists]
        out = [(i + 1 - n, self.uids[i]) for n, i in enumerate(known)]
        drop = set(gone)
        self.uids = [u for i, u in enumerate(self.uids) if i not in drop]
        self.flags = [f for i, f in enumerate(self.flags) if i not in drop]
        self.modseqs = [m for i, m in enumerate(self.modseqs) if i not in drop]
        self.announced_exists -= len(known)
        return out

    def flush(self, allow_expunge: bool, qresync: bool, condstore: bool) -> list[bytes]:
        """The untagged responses that bring the client up to date, as lines."""
        out: list[bytes] = []
        if allow_expunge and self.pending_expunge:
            expunged = self.take_expunged()
            if expunged and qresync:
                uids = compact_uids(u for _, u in expunged).encode()
                out.append(b"* VANISHED " + uids + b"\r\n")
            else:
                out.extend(b"* %d EXPUNGE\r\n" % seq for seq, _ in expunged)
        if len(self.uids) != self.announced_exists:
            out.append(b"* %d EXISTS\r\n" % len(self.uids))
            self.announced_exists = len(self.uids)
        for uid in sorted(self.flags_changed):
            i = self.index_of(uid)
            if i is None:
                continue
            line = b"* %d FETCH (UID %d FLAGS %s" % (i + 1, uid, format_flags(self.flags[i]))
            if condstore:
                line += b" MODSEQ (%d)" % self.modseqs[i]
            out.append(line + b")\r\n")
        self.flags_changed.clear()
        return out
