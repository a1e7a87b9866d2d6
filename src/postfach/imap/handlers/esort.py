"""SORT with RETURN (RFC 5267 ESORT, RFC 9394 PARTIAL): the sorted result as an
ESEARCH response, and what SAVE keeps of it (RFC 5182)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.esearchresult import partial_slice, result_line

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["write_esort"]


def write_esort(s: Session, cmd: c.Sort, uids: list[int], numbers: list[int]) -> None:
    """`uids` and `numbers` (UIDs or sequence numbers, as asked) in sort order."""
    opts = cmd.return_opts or ()
    if "SAVE" in opts:
        kept = uids
        if cmd.partial is not None:
            kept = uids[partial_slice(len(uids), cmd.partial)]
        elif set(opts) - {"SAVE"} and set(opts) <= {"SAVE", "MIN", "MAX"} and uids:
            kept = ([uids[0]] if "MIN" in opts else []) + ([uids[-1]] if "MAX" in opts else [])
        s.save_search(sorted(set(kept)))
        if opts == ("SAVE",):
            return
    line = result_line(cmd.tag, cmd.uid, numbers, opts, partial=cmd.partial, sorted_result=True)
    s.conn.write(r.untagged(line))
    refused = s.contexts.start(s.selected(), cmd, uids)
    if refused is not None:
        s.conn.write(refused)
