"""Helpers shared by the selected-state handlers: resolving sequence sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postfach.imap.errors import Bad
from postfach.imap.grammar import SeqSet
from postfach.imap.selected import SelectedView

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["resolve"]


def resolve(s: Session, view: SelectedView, seqset: SeqSet, uid: bool) -> list[int]:
    """0-based indexes into the view for a sequence set (message numbers or UIDs).

    `$` (RFC 5182 SEARCHRES) is the saved result, kept as UIDs. A message
    number past the end of the mailbox is a client error (RFC 9051 §9, BAD).
    """
    if seqset.saved:
        found = (view.index_of(u) for u in s.saved_uids)
        return sorted(i for i in found if i is not None)
    if uid:
        return seqset.uid_indexes(view.uids)
    if not seqset.seq_in_range(len(view)):
        raise Bad("Invalid message sequence number")
    return seqset.seq_indexes(len(view))
