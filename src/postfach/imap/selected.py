"""The selected mailbox as this session's client knows it (RFC 9051 §5.5, §7.4.1).

Three parallel lists, index = sequence number - 1: UIDs (ascending), flag
sets (interned, so 100,000 messages share a handful of frozensets) and
modseqs. Keywords compare case-insensitively (RFC 3501 §9 rule 2: the first
spelling seen in the mailbox is the one used); \\Recent is per session
(`recent.py`) and shown only to IMAP4rev1 sessions.

`synced` is the mailbox's HIGHESTMODSEQ up to which every committed change
is in the view. The session catches up from the store (`fold`, the changes
read since `synced`) at the start of a command; they become untagged
responses only in `flush`, which each command calls at its end (and IDLE at
once). Expunges wait in `pending_expunge` until a command that may announce
them (never during non-UID FETCH, STORE or SEARCH), so sequence numbers never
move under the client's feet. A keyword new to the view is announced with
FLAGS and PERMANENTFLAGS (`keyword_lines`) before any FETCH shows it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postfach.imap.grammar import compact_uids
from postfach.store.events import Change, ChangeAddUid, ChangeExpunge, ChangeFlags
from postfach.store.records import Mailbox, MailboxId, MailboxIndex, MessageMeta, Uid

if TYPE_CHECKING:
    from postfach.context import RecentMarks

__all__ = ["SYSTEM_FLAGS", "SelectedView", "format_flags", "select_flag_lines"]

SYSTEM_FLAGS = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"})


def format_flags(flags: frozenset[str]) -> bytes:
    """`(\\Seen $Junk)`: system flags first, in a stable order."""
    ordered = sorted(flags, key=lambda f: (f == "\\*", not f.startswith("\\"), f.lower()))
    return ("(" + " ".join(ordered) + ")").encode("utf-8", "replace")


def select_flag_lines(keywords: set[str], readonly: bool) -> list[bytes]:
    """`* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]`, as SELECT sends them."""
    flags = format_flags(SYSTEM_FLAGS | keywords)
    permanent = b"()" if readonly else format_flags(SYSTEM_FLAGS | keywords | {"\\*"})
    return [
        b"* FLAGS " + flags + b"\r\n",
        b"* OK [PERMANENTFLAGS " + permanent + b"] Flags permitted\r\n",
    ]


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
    recent: set[int] = field(default_factory=set)  # UIDs recent in this session
    announced_recent: int = 0
    tracker: RecentMarks | None = None  # None: \Recent not shown (IMAP4rev2)
    claims: bool = False  # claims new arrivals as its recent messages (read-write)
    junk: bool = False  # the Spam folder (special-use \\Junk): moves out of it teach
    synced: int = 0  # every change up to this HIGHESTMODSEQ is in the view
    notified_uid: int = 0  # RFC 5465: UIDs up to this need no MessageNew FETCH
    announced_keywords: int = 0  # keywords the client was told of with FLAGS
    _interned: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)
    _spelling: dict[str, str] = field(default_factory=dict)  # keyword.lower() -> as stored
    _lowered: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)
    _rendered: dict[frozenset[str], bytes] = field(default_factory=dict)
    _rendered_recent: dict[frozenset[str], bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, mailbox: Mailbox, index: MailboxIndex, readonly: bool) -> SelectedView:
        """The view of `index`, read after the mailbox row `mailbox`: every change
        up to the row's HIGHESTMODSEQ is in the index (later ones may be too)."""
        view = cls(
            mailbox.id,
            mailbox.name,
            readonly,
            mailbox.uidvalidity,
            int(mailbox.uidnext),
            int(mailbox.highestmodseq),
        )
        # the index is ours (a fresh read or a copy); the store shares equal flag sets
        view.uids = index.uids
        view.flags = index.flags
        view.modseqs = index.modseqs
        for flags in set(index.flags):
            view.intern(flags)
        if view.uids:
            view.uidnext = max(view.uidnext, view.uids[-1] + 1)
            view.highestmodseq = max(view.highestmodseq, max(view.modseqs))
        view.announced_exists = len(view.uids)
        view.synced = int(mailbox.highestmodseq)
        view.notified_uid = view.uids[-1] if view.uids else 0
        view.announced_keywords = len(view._spelling)
        view.junk = mailbox.special_use == "\\Junk"
        return view

    @property
    def recent_key(self) -> tuple[MailboxId, int]:
        return (self.mailbox_id, self.uidvalidity)

    def start_recent(self, tracker: RecentMarks, claims: bool) -> None:
        """RFC 3501 §2.3.2: the messages no session has been told about are ours."""
        self.tracker = tracker
        self.claims = claims
        unclaimed = tracker.unclaimed(self.recent_key, self.uids)
        self.recent = set(unclaimed)
        if claims and unclaimed:
            tracker.claim(self.recent_key, unclaimed[-1])
        self.announced_recent = len(self.recent)

    def _arrived(self, uid: int) -> None:
        tracker = self.tracker
        if tracker is None:
            return
        if self.claims:
            if tracker.claim(self.recent_key, uid):
                self.recent.add(uid)
        elif tracker.unclaimed(self.recent_key, [uid]):
            self.recent.add(uid)

    def __len__(self) -> int:
        return len(self.uids)

    def index_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i
        return None

    def intern(self, flags: frozenset[str]) -> frozenset[str]:
        known = self._interned.get(flags)
        if known is not None:
            return known
        self._interned[flags] = flags
        for f in flags:
            if not f.startswith("\\"):
                self._spelling.setdefault(f.lower(), f)
        return flags

    def keywords(self) -> set[str]:
        """The keywords in use, one spelling each."""
        return set(self._spelling.values())

    def canonical_flag(self, flag: str) -> str:
        """The spelling of a keyword already used in this mailbox (system flags are
        canonical from the parser)."""
        if flag.startswith("\\"):
            return flag
        return self._spelling.get(flag.lower(), flag)

    def variants(self, flag: str) -> set[str]:
        """Every spelling of a keyword found in the mailbox, and the flag itself."""
        low = flag.lower()
        out = {flag}
        for flags in self._interned:
            out.update(f for f in flags if f.lower() == low)
        return out

    def has_flag(self, i: int, lowered: str) -> bool:
        """Case-insensitive flag test; `lowered` is the flag in lower case."""
        flags = self.flags[i]
        low = self._lowered.get(flags)
        if low is None:
            low = self._lowered[flags] = frozenset(f.lower() for f in flags)
        return lowered in low

    def is_recent(self, i: int) -> bool:
        return bool(self.recent) and self.uids[i] in self.recent

    def flag_bytes(self, i: int) -> bytes:
        """`(\\Seen $Junk)` for the message at index i, \\Recent included when it is."""
        flags = self.flags[i]
        if self.recent and self.uids[i] in self.recent:
            cache = self._rendered_recent
            text = cache.get(flags)
            if text is None:
                text = cache[flags] = format_flags(flags | {"\\Recent"})
            return text
        text = self._rendered.get(flags)
        if text is None:
            text = self._rendered[flags] = format_flags(flags)
        return text

    # -- folding changes in ----------------------------------------------------

    def fold(self, changed: list[MessageMeta], expunged: list[Uid], modseq: int) -> None:
        """Folds in what the store holds since `synced`: messages whose MODSEQ is
        higher (new ones and changed flags, ascending by UID) and UIDs expunged
        since, read after the mailbox row said HIGHESTMODSEQ `modseq`. What the
        view has already (its own changes, or seen at SELECT) is left alone."""
        for meta in changed:
            uid = int(meta.uid)
            if self.index_of(uid) is not None:
                self.set_flags(uid, meta.flags, int(meta.modseq), notify=True)
            elif uid >= self.uidnext:
                self.uids.append(uid)
                self.flags.append(self.intern(meta.flags))
                self.modseqs.append(int(meta.modseq))
                self.uidnext = uid + 1
                self.highestmodseq = max(self.highestmodseq, int(meta.modseq))
                self._arrived(uid)
        for gone in expunged:
            if self.index_of(int(gone)) is not None:
                self.pending_expunge.add(int(gone))
        self.highestmodseq = max(self.highestmodseq, modseq)
        self.synced = max(self.synced, modseq)

    def hear(self, change: Change) -> bool:
        """Takes in at once what the hub told, where that is safe before catching up
        from the store; True when the view may still be behind (the caller catches up).

        Flags and expunges concern messages the view has and compare MODSEQs per
        message. A new message only when it is the very next change after `synced`:
        every lower UID came with an earlier (or this) MODSEQ, so none is skipped."""
        if not isinstance(change, ChangeAddUid | ChangeFlags | ChangeExpunge):
            return False
        if change.mailbox_id != self.mailbox_id or change.modseq <= self.synced:
            return False
        if isinstance(change, ChangeFlags):
            self.set_flags(int(change.uid), change.flags, int(change.modseq), notify=True)
        elif isinstance(change, ChangeExpunge):
            self.pending_expunge.update(
                int(u) for u in change.uids if self.index_of(int(u)) is not None
            )
        elif change.modseq == self.synced + 1 and change.uid >= self.uidnext:
            self.fold([MessageMeta(change.uid, change.modseq, change.flags)], [], self.synced)
        return True

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
        """Flags this session stored; it reports them itself (or not, for .SILENT).
        One STORE takes one MODSEQ: right after `synced`, nothing else came between."""
        for m in metas:
            self.set_flags(int(m.uid), m.flags, int(m.modseq), notify=False)
        if metas and int(metas[0].modseq) == self.synced + 1:
            self.synced += 1

    # -- announcing ----------------------------------------------------------------

    def keyword_lines(self) -> list[bytes]:
        """FLAGS and PERMANENTFLAGS again when a keyword appeared since the client was
        last told (RFC 9051 §7.3.5): before any FETCH that shows it."""
        if len(self._spelling) == self.announced_keywords:
            return []
        self.announced_keywords = len(self._spelling)
        return select_flag_lines(self.keywords(), self.readonly)

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
        if self.recent:
            self.recent.difference_update(self.uids[i] for i in gone)
        self.uids = [u for i, u in enumerate(self.uids) if i not in drop]
        self.flags = [f for i, f in enumerate(self.flags) if i not in drop]
        self.modseqs = [m for i, m in enumerate(self.modseqs) if i not in drop]
        self.announced_exists -= len(known)
        return out

    def flush(
        self, allow_expunge: bool, qresync: bool, condstore: bool, flags: bool = True
    ) -> list[bytes]:
        """The untagged responses that bring the client up to date, as lines;
        without `flags`, flag changes wait (NOTIFY without FlagChange)."""
        out = self.keyword_lines()
        if allow_expunge and self.pending_expunge:
            expunged = self.take_expunged()
            if expunged and qresync:
                uids = compact_uids(u for _, u in expunged).encode()
                out.append(b"* VANISHED " + uids + b"\r\n")
            else:
                out.extend(b"* %d EXPUNGE\r\n" % seq for seq, _ in expunged)
        exists = len(self.uids) != self.announced_exists
        if exists:
            out.append(b"* %d EXISTS\r\n" % len(self.uids))
            self.announced_exists = len(self.uids)
        if exists and len(self.recent) != self.announced_recent:
            out.append(b"* %d RECENT\r\n" % len(self.recent))
        self.announced_recent = len(self.recent)  # expunges lower it silently
        if not flags:
            return out
        for uid in sorted(self.flags_changed):
            i = self.index_of(uid)
            if i is None:
                continue
            line = b"* %d FETCH (UID %d FLAGS %s" % (i + 1, uid, self.flag_bytes(i))
            if condstore:
                line += b" MODSEQ (%d)" % self.modseqs[i]
            out.append(line + b")\r\n")
        self.flags_changed.clear()
        return out
