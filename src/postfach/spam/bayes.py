"""The statistical classifier: tokens of a message, and how spammy their counts say it is.

Pure. Gary Robinson's method as SpamBayes uses it: each token's spam probability
from how often it was in mail learnt as spam and as ham, pulled towards 0.5
while it has been seen little; then Fisher's chi-squared combination of the
most telling tokens into one probability. The counts live in the store
(`store.spam`), per account.

Written here rather than taken from a library: the PyPI ones (antispam, a
SpamBayes port, bayes-on-redis) are unmaintained for years or keep their own
storage, and the method is forty lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from postfach.spam.content import Content, decode_words

__all__ = ["MAX_TOKENS", "Counts", "Totals", "chi2q", "probability", "token_probability", "tokens"]

MAX_TOKENS = 1000  # distinct tokens learnt or looked up per message
_MAX_TOKEN_LEN = 40
_WORD = re.compile(r"[^\W_][\w'$€£.-]{1,38}[^\W_]|[^\W_]{3}", re.UNICODE)
_URL_HOST = re.compile(r"https?://([a-z0-9.-]+)", re.IGNORECASE)
_UNKNOWN_STRENGTH = 0.45  # SpamBayes' unknown_word_strength (s)
_UNKNOWN_PROB = 0.5  # ... and unknown_word_prob (x)
_MIN_DISTANCE = 0.1  # tokens nearer 0.5 than this say nothing
_MAX_DISCRIMINATORS = 150


@dataclass(frozen=True, slots=True)
class Counts:
    spam: int  # messages learnt as spam that had the token
    ham: int


@dataclass(frozen=True, slots=True)
class Totals:
    spam: int  # messages learnt as spam
    ham: int


def tokens(content: Content) -> list[str]:
    """Distinct tokens: words of subject and body, the sender's domain, link hosts.
    Header words are marked with their header so "free" in a subject counts apart."""
    found: dict[str, None] = {}

    def add(token: str) -> None:
        if len(found) < MAX_TOKENS:
            found.setdefault(token[:_MAX_TOKEN_LEN], None)

    for word in _words(decode_words(content.header("subject"))):
        add("subject:" + word)
    sender = decode_words(content.header("from")).lower()
    if "@" in sender:
        add("from:" + sender.rpartition("@")[2].strip(" >\"'"))
    bodies = [*content.plain, *content.html_text]
    for body in bodies:
        for host in _URL_HOST.findall(body):
            add("url:" + host.lower())
    for link in content.links:
        for host in _URL_HOST.findall(link.href):
            add("url:" + host.lower())
    for body in bodies:
        for word in _words(body):
            add(word)
    return list(found)


def _words(text: str) -> Iterable[str]:
    for match in _WORD.finditer(text):
        word = match.group(0).lower().strip(".")
        if len(word) >= 3:
            yield word


def token_probability(counts: Counts, totals: Totals) -> float:
    """Robinson's f(w): the spam ratio of the token, smoothed by how often it was seen."""
    spam_ratio = counts.spam / totals.spam if totals.spam else 0.0
    ham_ratio = counts.ham / totals.ham if totals.ham else 0.0
    if spam_ratio + ham_ratio == 0:
        return _UNKNOWN_PROB
    p = spam_ratio / (spam_ratio + ham_ratio)
    n = counts.spam + counts.ham
    return (_UNKNOWN_STRENGTH * _UNKNOWN_PROB + n * p) / (_UNKNOWN_STRENGTH + n)


def probability(
    message_tokens: Iterable[str], counts: Mapping[str, Counts], totals: Totals
) -> float | None:
    """How likely spam, 0..1; None when nothing learnt says anything about it."""
    if totals.spam + totals.ham == 0:
        return None
    clues = []
    for token in message_tokens:
        seen = counts.get(token)
        if seen is None:
            continue
        p = token_probability(seen, totals)
        if abs(p - 0.5) >= _MIN_DISTANCE:
            clues.append(p)
    if not clues:
        return None
    clues.sort(key=lambda p: -abs(p - 0.5))
    return _combine(clues[:_MAX_DISCRIMINATORS])


def _combine(clues: list[float]) -> float:
    """Fisher's method: (1 + S - H) / 2 (SpamBayes' chi-squared combining)."""
    n = len(clues)
    spam_evidence = sum(math.log(1.0 - p) for p in clues)
    ham_evidence = sum(math.log(p) for p in clues)
    s = 1.0 - chi2q(-2.0 * spam_evidence, 2 * n)
    h = 1.0 - chi2q(-2.0 * ham_evidence, 2 * n)
    return (1.0 + s - h) / 2.0


def chi2q(x2: float, degrees: int) -> float:
    """P(chi-squared with `degrees` (even) degrees of freedom >= x2)."""
    m = x2 / 2.0
    term = total = math.exp(-m)
    for i in range(1, degrees // 2):
        term *= m / i
        total += term
    return min(total, 1.0)
