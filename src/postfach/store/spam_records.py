"""Records of the spam role (store/spam.py): an account's spam settings and the
classifier's counts."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SpamSettings", "TokenCounts"]


@dataclass(frozen=True, slots=True)
class SpamSettings:
    """An account's own thresholds (None: the server's) and its sender lists,
    each entry an address or a domain, lower-case."""

    file_threshold: float | None = None
    reject_threshold: float | None = None
    allow: frozenset[str] = frozenset()
    block: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """What the classifier learnt of some tokens: per token (spam, ham) message
    counts, and how many messages it learnt as spam and as ham in all."""

    tokens: dict[str, tuple[int, int]]
    learnt_spam: int
    learnt_ham: int
