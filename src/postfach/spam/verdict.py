"""The contract of a spam scorer: what it is told, what it answers, what it learns.

SMTP acceptance builds `ScanFacts` once per message and asks the configured
`Scorer`; what to do with the score (deliver, file in Spam, refuse) is decided
by thresholds outside the scorer, per server and per account. Moving mail into
or out of Spam calls `learn`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["ScanFacts", "Scorer", "SpamVerdict"]


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """How the message arrived. `auth_results` holds the sender checks by method,
    e.g. {"spf": "pass", "dkim": "fail", "dmarc": "none", "arc": "none"}."""

    ip: str
    helo: str
    sender: str
    recipients: tuple[str, ...]
    account_ids: tuple[int, ...]  # the local accounts it is for
    authenticated: bool  # submitted by a logged-in user
    auth_results: Mapping[str, str] = field(default_factory=dict)
    early_talker: bool = False  # spoke before the greeting


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    """A score (higher: more likely spam) and the rules that fired, as
    `NAME(points)`; `scanned` is False when the scorer could not look."""

    score: float
    symbols: tuple[str, ...] = ()
    scanned: bool = True


class Scorer(Protocol):
    async def check(self, raw: bytes, facts: ScanFacts) -> SpamVerdict: ...

    async def learn(self, account_id: int, raw: bytes, *, spam: bool) -> None: ...

    async def aclose(self) -> None:
        """Lets go of what the scorer holds open (rspamd's connections) at shutdown."""
