"""The built-in scorer: rules over headers and body, the sender checks, and a
per-account classifier whose counts live in `store.spam`.

Needs no service. `check` reads only the first `SCAN_LIMIT` bytes; `learn`
adds a message's tokens to an account's counts.
"""

from __future__ import annotations

import hashlib

from postfach.spam import bayes
from postfach.spam.content import Content, parse_content
from postfach.spam.rules import RULES, Hit, auth_hits, bayes_hit, early_talker_hits
from postfach.spam.verdict import ScanFacts, SpamVerdict
from postfach.store.api import SpamApi
from postfach.store.records import AccountId

__all__ = ["BuiltinScorer"]


class BuiltinScorer:
    def __init__(self, spam: SpamApi, min_learnt: int = 1) -> None:
        self._spam = spam
        self._min_learnt = min_learnt  # of spam and of ham, before the classifier counts

    async def check(self, raw: bytes, facts: ScanFacts) -> SpamVerdict:
        content = parse_content(raw)
        hits: list[Hit] = [hit for rule in RULES for hit in rule(content)]
        hits += auth_hits(facts.auth_results)
        hits += early_talker_hits(facts.early_talker)
        if facts.account_ids:
            hits += bayes_hit(await self._probability(facts.account_ids, content))
        score = round(sum(hit.points for hit in hits), 1)
        return SpamVerdict(score, tuple(hit.symbol() for hit in hits))

    async def learn(self, account_id: int, raw: bytes, *, spam: bool) -> None:
        tokens = bayes.tokens(parse_content(raw))
        key = hashlib.sha256(raw).hexdigest()  # the same message filed again teaches once
        await self._spam.learn(AccountId(account_id), tokens, spam=spam, key=key)

    async def aclose(self) -> None:
        """Nothing held open: the counts live in the store."""

    async def _probability(self, account_ids: tuple[int, ...], content: Content) -> float | None:
        ids = [AccountId(a) for a in account_ids]
        if min(await self._spam.learnt_totals(ids)) < self._min_learnt:
            return None  # the common case: no need to cut the message into tokens
        tokens = bayes.tokens(content)
        known = await self._spam.token_counts(ids, tokens)
        if min(known.learnt_spam, known.learnt_ham) < self._min_learnt:
            return None
        counts = {t: bayes.Counts(spam, ham) for t, (spam, ham) in known.tokens.items()}
        totals = bayes.Totals(known.learnt_spam, known.learnt_ham)
        return bayes.probability(tokens, counts, totals)
