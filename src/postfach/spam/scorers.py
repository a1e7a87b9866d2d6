"""Which scorer the server uses: the one place that chooses. rspamd when
`[spam] rspamd` names it, else the built-in rules and classifier."""

from __future__ import annotations

from postfach.config import Config
from postfach.spam.builtin import BuiltinScorer
from postfach.spam.verdict import Scorer
from postfach.store.api import StoreApi

__all__ = ["make_scorer"]


def make_scorer(config: Config, store: StoreApi) -> Scorer:
    if config.spam.rspamd:
        # Imported here: httpx (and the CLI libraries it loads) only where rspamd is used.
        from postfach.spam.rspamd import RspamdScorer

        rspamd = RspamdScorer.from_config(config.spam)
        if rspamd is not None:
            return rspamd
    return BuiltinScorer(store.spam, config.spam.bayes_min_learnt)
