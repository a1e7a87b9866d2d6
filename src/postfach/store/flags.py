"""Flags as the store keeps them (one space-separated text column), and the
pure decision of what a STORE changes, shared by both write paths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["FlagRow", "format_flags", "parse_flags", "plan_flags"]

# (message id, uid, modseq, flags text), as read from the messages table.
FlagRow = tuple[int, int, int, str]


def format_flags(flags: frozenset[str]) -> str:
    return " ".join(sorted(flags))


def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
