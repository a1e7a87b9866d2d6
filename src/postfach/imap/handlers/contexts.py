"""RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: keeping updating contexts current, and
CANCELUPDATE.

SEARCH and SORT with RETURN (UPDATE) leave their context on the session
(imap/updates.py); `refresh` computes each result anew after the view changed
and sends the difference.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap.errors import Bad
from postfach.imap.handlers.search import Searcher
from postfach.imap.handlers.threads import sorted_indexes
from postfach.imap.updates import update_line
from postfach.store.api import StoreError

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["cancelupdate", "refresh"]

log = logging.getLogger(__name__)


async def refresh(s: Session, _: object = None) -> None:
    """Each context's result anew, once the view changed; ADDTO/REMOVEFROM for the
    difference. In the command table under `UpdateContexts` (session.py runs it)."""
    view = s.view
    contexts = s.contexts
    if view is None or not contexts or not contexts.changed(view):
        return
    for context in list(contexts.by_tag.values()):
        searcher = Searcher(s, view)
        try:
            if context.criteria is None:
                found = sorted(await searcher.evaluate(context.key))
            else:
                found = await sorted_indexes(searcher, context.key, context.criteria)
        except StoreError as exc:  # the command itself went well: try again next time
            log.warning("imap: search context %s not updated: %s", context.tag, exc)
            contexts.seen = None
            return
        new = [view.uids[i] for i in found]
        line = update_line(context, view, context.result, new)
        context.result = new
        if line is not None:
            s.conn.write(line)


async def cancelupdate(s: Session, cmd: c.CancelUpdate) -> str:
    """RFC 5267 §4.2; an unknown tag is BAD and cancels none (as Dovecot)."""
    if not s.contexts.cancel(cmd.tags):
        raise Bad("Unknown tag")
    return "Updates cancelled"
