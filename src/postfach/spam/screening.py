"""Screening mail from outside: score it once, then decide per recipient account.

SMTP acceptance calls `screen` for mail that arrives on the MX without AUTH.
The outcome is the message with X-Spam-Score and X-Spam-Status on top (any
such headers it came with removed), the accounts whose Spam folder takes it,
and whether it is refused: only when every account would refuse it (one
reply at DATA answers for all recipients).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postfach.config import SpamConfig
from postfach.message.address import header_from_addresses
from postfach.spam.decide import Action, Thresholds, decide, spam_headers, without_spam_headers
from postfach.spam.verdict import ScanFacts, Scorer, SpamVerdict
from postfach.store.api import SpamApi
from postfach.store.records import AccountId

__all__ = ["Screening", "auth_results_from", "screen"]

_METHOD_RESULT = re.compile(rb"\b(spf|dkim|dmarc|arc)=([a-z]+)", re.IGNORECASE)
_FIELD = re.compile(rb"^Authentication-Results:(.*?)\r?\n(?![ \t])", re.IGNORECASE | re.DOTALL)


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


def auth_results_from(raw: bytes) -> dict[str, str]:
    """{"spf": "pass", "dkim": "fail", ...} from the message's first header when it
    is an Authentication-Results (the one this server just put on top; a
    stranger's own further down are never read). A method with several results
    (one per DKIM signature) keeps its first."""
    match = _FIELD.match(raw)
    if match is None:
        return {}
    results: dict[str, str] = {}
    for method, result in _METHOD_RESULT.findall(match.group(1)):
        results.setdefault(method.decode().lower(), result.decode().lower())
    return results
