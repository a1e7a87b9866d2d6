"""RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: the results a session keeps up to date.

A SEARCH or SORT with RETURN (UPDATE) leaves an `UpdateContext` on the session:
its search program, sort criteria (None for SEARCH) and its result as UIDs in
result order. Whenever the selected mailbox changes (messages arrive, flags
change, messages go), the result is computed anew (handlers/contexts.py) and the
difference is sent as an untagged `ESEARCH (TAG "t") ADDTO (...)` or
`REMOVEFROM (...)`. Removals of messages about to be announced as expunged are
sent before the EXPUNGE responses, while their sequence numbers still hold
(`expunging`); additions follow the EXISTS that announces them.

Positions follow RFC 5267 §4.3: 0 for SEARCH (the client keeps its own order);
for SORT, (position, number) pairs read one after the other, each position
1-based in the list as it is at that step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from postfach.imap import commands as c
from postfach.imap.errors import Bad
from postfach.imap.grammar import compact_uids
from postfach.imap.selected import SelectedView

__all__ = ["MAX_CONTEXTS", "UpdateContext", "UpdateContexts"]

# Contexts one session may keep (Dovecot keeps ten too); more get NO [NOUPDATE].
MAX_CONTEXTS = 10


@dataclass(slots=True)
class UpdateContext:
    tag: str
    uid: bool
    key: c.SearchKey
    criteria: tuple[tuple[str, bool], ...] | None  # None: SEARCH
    result: list[int]  # UIDs, in result order


def _signature(view: SelectedView) -> tuple[int, int, int, int]:
    """Changes with every arrival, flag change and expunge the view folds in."""
    return len(view.uids), view.uidnext, view.highestmodseq, len(view.pending_expunge)


@dataclass(slots=True)
class UpdateContexts:
    """The session's contexts, kept while the mailbox stays selected."""

    by_tag: dict[str, UpdateContext] = field(default_factory=dict)
    seen: tuple[int, int, int, int] | None = None

    def __bool__(self) -> bool:
        return bool(self.by_tag)

    def check(self, tag: str, opts: tuple[str, ...] | None) -> None:
        """Before the search: a tag names one context at a time (RFC 5267 §4.2)."""
        if opts is not None and "UPDATE" in opts and tag in self.by_tag:
            raise Bad("Duplicate search update tag")

    def start(self, view: SelectedView, cmd: c.Search | c.Sort, result: list[int]) -> bytes | None:
        """After the first result (UIDs in result order) went out, for RETURN (UPDATE):
        keeps it, or returns the `NO [NOUPDATE]` to send when there are too many."""
        if cmd.return_opts is None or "UPDATE" not in cmd.return_opts:
            return None
        if len(self.by_tag) >= MAX_CONTEXTS:
            return f'* NO [NOUPDATE "{cmd.tag}"] Too many updating contexts\r\n'.encode()
        criteria = cmd.criteria if isinstance(cmd, c.Sort) else None
        self.by_tag[cmd.tag] = UpdateContext(cmd.tag, cmd.uid, cmd.key, criteria, result)
        self.seen = _signature(view)
        return None

    def cancel(self, tags: Sequence[str]) -> bool:
        """CANCELUPDATE: False (and nothing cancelled) when a tag is unknown."""
        if any(t not in self.by_tag for t in tags):
            return False
        for tag in tags:
            del self.by_tag[tag]
        return True

    def clear(self) -> None:
        self.by_tag.clear()
        self.seen = None

    def changed(self, view: SelectedView) -> bool:
        """True once per change of the view (and then remembers it as seen)."""
        now = _signature(view)
        if now == self.seen:
            return False
        self.seen = now
        return True

    def expunging(self, view: SelectedView) -> list[bytes]:
        """REMOVEFROM for results about to be announced expunged, before the EXPUNGEs."""
        gone = view.pending_expunge
        out: list[bytes] = []
        for context in self.by_tag.values():
            kept = [u for u in context.result if u not in gone]
            if len(kept) != len(context.result):
                line = update_line(context, view, context.result, kept)
                context.result = kept
                if line:
                    out.append(line)
        return out


def update_line(
    context: UpdateContext, view: SelectedView, old: list[int], new: list[int]
) -> bytes | None:
    """The ESEARCH line turning `old` into `new` (both UIDs in result order), or None."""
    kept = set(new)
    before = set(old)
    items: list[str] = []
    removed = [(pos, u) for pos, u in enumerate(old, 1) if u not in kept]
    added = [(pos, u) for pos, u in enumerate(new, 1) if u not in before]
    number = _numberer(context.uid, view)
    if removed:
        if context.criteria is None:
            items.append(f"REMOVEFROM (0 {_set(number, [u for _, u in removed])})")
        else:  # last first: each position holds whatever the client applied before
            pairs = [f"{pos} {n}" for pos, u in reversed(removed) if (n := number(u))]
            items.append("REMOVEFROM (" + " ".join(pairs) + ")")
    if added:
        if context.criteria is None:
            items.append(f"ADDTO (0 {_set(number, [u for _, u in added])})")
        else:  # first first: each lands at its final position
            pairs = [f"{pos} {n}" for pos, u in added if (n := number(u))]
            items.append("ADDTO (" + " ".join(pairs) + ")")
    if not items:
        return None
    head = f'* ESEARCH (TAG "{context.tag}")' + (" UID" if context.uid else "")
    return (head + " " + " ".join(items) + "\r\n").encode()


def _numberer(uid: bool, view: SelectedView) -> Callable[[int], Any]:
    if uid:
        return lambda u: u

    def seq(u: int) -> int | None:
        i = view.index_of(u)
        return None if i is None else i + 1

    return seq


def _set(number: Callable[[int], Any], uids: list[int]) -> str:
    return compact_uids(n for n in map(number, uids) if n is not None)
