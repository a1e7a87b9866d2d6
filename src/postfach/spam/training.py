"""Learning from where users file mail: into Spam is spam, out of Spam is ham.

IMAP MOVE/COPY and the web pages' move call `learn_from_filing` after the store
moved the messages. Out of Spam into Trash teaches nothing (deleting is not
"this was good mail"). Learning never fails the move: an error is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from postfach.spam.verdict import Scorer
from postfach.store.api import StoreApi
from postfach.store.records import Mailbox, SpecialUse, Uid

__all__ = ["MAX_LEARNT_PER_MOVE", "filing_teaches", "learn_from_filing"]

log = logging.getLogger(__name__)

MAX_LEARNT_PER_MOVE = 500  # a move of a whole folder teaches from its first messages


def filing_teaches(source: Mailbox, target: Mailbox) -> bool | None:
    """True: learn as spam; False: learn as ham; None: this move teaches nothing."""
    junk = SpecialUse.JUNK
    if target.special_use is junk and source.special_use is not junk:
        return True
    if source.special_use is junk and target.special_use not in (junk, SpecialUse.TRASH):
        return False
    return None


async def learn_from_filing(
    scorer: Scorer,
    store: StoreApi,
    source: Mailbox,
    target: Mailbox,
    new_uids: Sequence[Uid],
) -> int:
    """Teaches the target's account from the messages now in `target`; returns how many."""
    spam = filing_teaches(source, target)
    if spam is None or not new_uids:
        return 0
    try:
        messages = await store.mail.get_messages(target.id, list(new_uids)[:MAX_LEARNT_PER_MOVE])
        raws = await store.mail.read_raws(messages)
        for raw in raws.values():
            await scorer.learn(target.account_id, raw, spam=spam)
    except Exception:
        log.exception("learning from a move into/out of Spam failed (%s)", target.name)
        return 0
    return len(raws)
