"""The rules of adding, flagging and expunging mail, pure: no SQL, no I/O.

Every write path calls these, so they cannot drift apart: the generic
SQLAlchemy path (store/mail_sql.py), SQLite's fast path
(store/sqlite_fastpath.py) and PostgreSQL's batch insert on asyncpg
(store/pg_batch.py). The paths differ only in how they talk to the
database; what is accepted, which UIDs are given, which flags change and which
messages an EXPUNGE removes is decided here. Flags are kept as one
space-separated text column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from postfach.store.errors import NotFound, OverQuota, StoreError

__all__ = [
    "MAX_IN",
    "FlagRow",
    "Owner",
    "admit",
    "assign_uids",
    "expunges",
    "format_flags",
    "parse_flags",
    "refusal",
    "plan_flags",
    "uid_counts",
    "uid_lookup",
]

# IN lists longer than this become a range scan filtered in Python.
MAX_IN = 500

# (message id, uid, modseq, flags text), as read from the messages table.
FlagRow = tuple[int, int, int, str]
# A mailbox's owner as admission sees it: (account id, quota bytes or 0, used bytes).
Owner = tuple[int, int, int]


def format_flags(flags: frozenset[str]) -> str:
    return " ".join(sorted(flags))


def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- adding ------------------------------------------------------------------
def admit(
    items: Iterable[tuple[int, int]], owners: Mapping[int, Owner]
) -> tuple[list[str | None], dict[int, int]]:
    """Which of a batch's (mailbox id, size) items may be added: per item None
    (accepted) or why not ("nomailbox", "quota"), and the bytes each account is
    charged. Items are judged in order, each against its account's quota less
    what the items before it took, so one item over quota does not stop the rest."""
    verdicts: list[str | None] = []
    charged: dict[int, int] = {}
    for mailbox_id, size in items:
        owner = owners.get(mailbox_id)
        if owner is None:
            verdicts.append("nomailbox")
            continue
        account_id, quota, used = owner
        if quota and used + charged.get(account_id, 0) + size > quota:
            verdicts.append("quota")
            continue
        charged[account_id] = charged.get(account_id, 0) + size
        verdicts.append(None)
    return verdicts, charged


def refusal(verdict: str, mailbox_id: int) -> StoreError:
    """The error an item that `admit` refused is answered with."""
    if verdict == "quota":
        return OverQuota("mailbox full")
    return NotFound(f"no mailbox #{mailbox_id}")


def uid_counts(mailbox_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(mailbox id, how many UIDs to reserve) in mailbox order: the order in
    which every writer takes the mailbox rows, so that writers never deadlock."""
    counts: dict[int, int] = {}
    for mailbox_id in mailbox_ids:
        counts[mailbox_id] = counts.get(mailbox_id, 0) + 1
    return sorted(counts.items())


def assign_uids(mailbox_ids: Iterable[int], first_uid: Mapping[int, int]) -> list[int]:
    """The UID of each new message: its mailbox's reserved range, in batch order."""
    next_uid = dict(first_uid)
    uids: list[int] = []
    for mailbox_id in mailbox_ids:
        uids.append(next_uid[mailbox_id])
        next_uid[mailbox_id] += 1
    return uids


# -- flags -------------------------------------------------------------------
def plan_flags(
    rows: Iterable[FlagRow],
    mode: Literal["add", "remove", "replace"],
    flags: frozenset[str],
    unchanged_since: int | None,
    wanted: set[int] | None,
) -> tuple[list[tuple[int, int, frozenset[str]]], list[int]]:
    """(id, uid, new flags) of the messages whose flags change, and the UIDs that
    fail UNCHANGEDSINCE (RFC 7162 §3.1.3). Unchanged messages are left alone."""
    updates: list[tuple[int, int, frozenset[str]]] = []
    failed: list[int] = []
    for message_id, uid, modseq, text in rows:
        if wanted is not None and uid not in wanted:
            continue
        if unchanged_since is not None and modseq > unchanged_since:
            failed.append(uid)
            continue
        old = parse_flags(text)
        new = old | flags if mode == "add" else old - flags if mode == "remove" else flags
        if new != old:
            updates.append((message_id, uid, new))
    return updates, failed


# -- expunging ---------------------------------------------------------------
def expunges(uid: int, flags_text: str, wanted: set[int] | None, only_deleted: bool) -> bool:
    """Whether EXPUNGE (only_deleted) or a plain delete removes this message.
    The SQL pre-filters with LIKE '%\\Deleted%'; this is the exact test."""
    if wanted is not None and uid not in wanted:
        return False
    return not only_deleted or "\\Deleted" in parse_flags(flags_text)


# -- UID sets ----------------------------------------------------------------
def uid_lookup(uids: Sequence[int]) -> tuple[list[int], set[int] | None]:
    """How to find `uids`: (the UIDs for an IN list, None), or, for more than
    MAX_IN, ([lowest, highest] for a range scan, the set to filter its rows by)."""
    if len(uids) <= MAX_IN:
        return list(uids), None
    wanted = set(uids)
    return [min(wanted), max(wanted)], wanted
