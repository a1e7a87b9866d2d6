"""Screening mail from outside: score it once, then decide per recipient account.

SMTP acceptance calls `screen` for mail that arrives on the MX without AUTH.
The outcome is the message with X-Spam-Score and X-Spam-Status on top (any
such headers it came with removed), the accounts whose Spam folder takes it,
and whether it is refused: only when every account would refuse it (one
reply at DATA answers for all recipients).
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.config import SpamConfig
from postfach.message.address import header_from_addresses
from postfach.spam.decide import Action, Thresholds, decide, spam_headers, without_spam_headers
from postfach.spam.verdict import ScanFacts, Scorer, SpamVerdict
from postfach.store.api import SpamApi
from postfach.store.records import AccountId

__all__ = ["Screening", "screen"]


@dataclass(frozen=True, slots=True)
class Screening:
    raw: bytes  # with our X-Spam-* headers on top
    verdict: SpamVerdict
    junk: frozenset[AccountId]  # accounts whose Spam folder gets it
    reject: bool


async def screen(
    scorer: Scorer, spam: SpamApi, config: SpamConfig, raw: bytes, facts: ScanFacts
) -> Screening:
    raw = without_spam_headers(raw)
    verdict = await scorer.check(raw, facts)
    server = Thresholds(config.file_threshold, config.reject_threshold)
    senders = [facts.sender, *header_from_addresses(raw)]
    actions = {}
    for account_id in facts.account_ids:
        settings = await spam.settings(AccountId(account_id))
        actions[AccountId(account_id)] = decide(verdict, settings, server, senders)
    reject = bool(actions) and all(a is Action.REJECT for a in actions.values())
    junk = frozenset(a for a, action in actions.items() if action is not Action.DELIVER)
    return Screening(spam_headers(verdict, server.file) + raw, verdict, junk, reject)
