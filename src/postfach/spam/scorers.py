"""Which scorer the server uses: the one place that chooses (the built-in one
now; rspamd when configured, once it exists)."""

from __future__ import annotations

from postfach.config import Config
from postfach.spam.builtin import BuiltinScorer
from postfach.spam.verdict import Scorer
from postfach.store.api import StoreApi

__all__ = ["make_scorer"]


def make_scorer(config: Config, store: StoreApi) -> Scorer:
    return BuiltinScorer(store.spam, config.spam.bayes_min_learnt)
