"""SEARCH and UID SEARCH (RFC 9051 §6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182)
and the CONDSTORE MODSEQ key (RFC 7162 §3.1.5).

Keys evaluate to sets of view indexes. Flags, numbers and modseqs come from
the view; text keys (FROM, SUBJECT, BODY, TEXT, and HEADER of From, To, Cc,
Bcc and Subject) use the decoded, case-folded text the store extracted at
delivery (`search_text`, narrowed by its full-text index): BODY the text parts,
TEXT those and every header field and attachment name; sizes, dates and SENT*
dates read message metadata and the parse kept with it; other HEADER keys read
the message's header, of the candidates the store's header text leaves.
"""

from __future__ import annotations

import bisect
import datetime
import email.utils
from typing import TYPE_CHECKING

from postfach.cooperative import Budget
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.esearchresult import partial_slice, result_line
from postfach.imap.objectid import objectid_matches
from postfach.imap.selected import SelectedView
from postfach.message import ParsedMessage, decode_words
from postfach.message.headers import scan_header, unfold
from postfach.store.records import StoredMessage, Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["Searcher", "saved_uids", "search"]

CHARSETS = frozenset({"UTF-8", "US-ASCII"})
BATCH = 500
# Messages examined in pure Python (a parse rebuilt, a date compared, a sort key
# made) between turns of the loop: about 10 ms of work, so that SEARCH, SORT and
# THREAD over a big mailbox never hold up the worker's other sessions for long.
MESSAGES_PER_TURN = 100
# HEADER keys the store's case-folded search columns answer (`search_text`), so
# they need no blob. The address columns hold the parsed addresses written out:
# HEADER From matches those too (Dovecot matches the field with its comments).
STORE_COLUMNS = frozenset({"from", "to", "cc", "bcc", "subject"})
# The fields delivery writes in a message's own trace prefix (delivery.py
# trace_headers): the shared blob's header text does not hold them.
TRACE_FIELDS = frozenset({"return-path", "delivered-to", "received"})
# Below this many messages a scan of the short address and subject columns is
# cheaper than the index, whose candidates come from every mailbox of the server.
SCAN_SHORT_FIELDS_BELOW = 5000


class Searcher:
    """Evaluates one search program against the selected view, caching what it reads.

    Message metadata is read in batches once per command; the parse kept at
    delivery is rebuilt once per blob; blobs are read only for HEADER keys the
    store's search columns do not cover (and THREAD REFERENCES).
    """

    def __init__(self, s: Session, view: SelectedView) -> None:
        self.s = s
        self.view = view
        self._everything: set[int] | None = None
        self._messages: dict[int, StoredMessage] | None = None
        self._parsed: dict[str, ParsedMessage] = {}
        self._headers: dict[int, list[tuple[bytes, bytes]]] = {}
        self.max_modseq_key = False
        self.budget = Budget(MESSAGES_PER_TURN)

    @property
    def everything(self) -> set[int]:
        """Every message the search may find (not those expunged meanwhile). Made
        only when a key needs it: a set of 100,000 indexes takes milliseconds."""
        if self._everything is None:
            pending = self.view.pending_expunge
            self._everything = (
                {i for i, u in enumerate(self.view.uids) if u not in pending}
                if pending
                else set(range(len(self.view)))
            )
        return self._everything

    async def messages(self) -> dict[int, StoredMessage]:
        if self._messages is None:
            found: dict[int, StoredMessage] = {}
            uids = self.view.uids
            for start in range(0, len(uids), BATCH):
                batch = [Uid(u) for u in uids[start : start + BATCH]]
                for m in await self.s.ctx.store.mail.get_messages(self.view.mailbox_id, batch):
                    found[int(m.uid)] = m
            self._messages = found
        return self._messages

    def parsed(self, message: StoredMessage) -> ParsedMessage:
        parsed = self._parsed.get(message.blob_sha256)
        if parsed is None:
            parsed = ParsedMessage.from_json(message.parsed)
            self._parsed[message.blob_sha256] = parsed
        return parsed

    async def headers(self, i: int) -> list[tuple[bytes, bytes]]:
        """(lower-case name, unfolded raw value) of the top-level header, prefix included."""
        cached = self._headers.get(i)
        if cached is None:
            message = (await self.messages()).get(self.view.uids[i])
            cached = []
            if message is not None:
                blob = await self.s.ctx.store.mail.read_blob(message.blob_sha256)
                for part in (message.prefix, blob):
                    fields, _ = scan_header(part)
                    cached.extend((f.name, unfold(f.value)) for f in fields)
            self._headers[i] = cached
        return cached

    async def evaluate(self, key: c.SearchKey, within: set[int] | None = None) -> set[int]:
        """Indexes matching `key`; `within` narrows the candidates for costly keys
        (None: every message)."""
        if isinstance(key, c.KeyText):  # from the store's answer, no pool needed
            return await self._text(key.where, key.value, within)
        if isinstance(key, c.KeyAnd):
            narrowed = within
            for sub in sorted(key.keys, key=_cost):
                narrowed = await self.evaluate(sub, narrowed)
                if not narrowed:
                    break
            return self.everything if narrowed is None else narrowed
        pool = self.everything if within is None else within
        view = self.view
        if isinstance(key, c.KeyAll):
            return set(pool)
        if isinstance(key, c.KeyFlag):
            return self._flag(key, pool)
        if isinstance(key, c.KeySeq):
            return pool & set(self._seq(key))
        if isinstance(key, c.KeyModSeq):
            self.max_modseq_key = True
            self.s.enable("CONDSTORE")
            return {i for i in pool if view.modseqs[i] >= key.modseq}
        if isinstance(key, c.KeyOr):
            left = await self.evaluate(key.left, pool)
            return left | await self.evaluate(key.right, pool - left)
        if isinstance(key, c.KeyNot):
            return pool - await self.evaluate(key.key, pool)
        return await self._message_key(key, pool)

    def _flag(self, key: c.KeyFlag, pool: set[int]) -> set[int]:
        """Keywords compare case-insensitively (RFC 3501 §9; the parser makes system
        flags canonical); \\Recent is this session's (RFC 3501 §2.3.2)."""
        view = self.view
        flag, present = key.flag, key.present
        if flag == "\\Recent":
            return {i for i in pool if view.is_recent(i) == present}
        if flag.startswith("\\"):
            return {i for i in pool if (flag in view.flags[i]) == present}
        lowered = flag.lower()
        return {i for i in pool if view.has_flag(i, lowered) == present}

    def _seq(self, key: c.KeySeq) -> list[int]:
        view = self.view
        if key.seqset.saved:
            return [i for i in (view.index_of(u) for u in self.s.saved_uids) if i is not None]
        if key.uid:
            return key.seqset.uid_indexes(view.uids)
        return key.seqset.seq_indexes(len(view))

    async def _message_key(self, key: c.SearchKey, pool: set[int]) -> set[int]:
        if isinstance(key, c.KeyHeader):
            name = key.name.lower()
            if key.value and name in STORE_COLUMNS:
                return await self._text(name, key.value, pool)
            if key.value and name not in TRACE_FIELDS:
                pool = await self._text("head", key.value, pool)
            return {i for i in pool if await self._header_matches(i, key)}
        messages = await self.messages()
        out: set[int] = set()
        for i in pool:
            message = messages.get(self.view.uids[i])
            if message is not None and self._meta_matches(message, key):
                out.add(i)
            await self.budget.charge()
        return out

    async def _text(self, where: str, value: str, pool: set[int] | None) -> set[int]:
        """The store's decoded, case-folded text, filled at delivery; `pool` None:
        any message of the view."""
        if not value:
            return set(self.everything if pool is None else pool)
        scan = where in STORE_COLUMNS and len(self.view) < SCAN_SHORT_FIELDS_BELOW
        uids = await self.s.ctx.store.mail.search_text(
            self.view.mailbox_id, value, where, indexed=not scan
        )
        view = self.view
        known, pending = view.uids, view.pending_expunge
        found: set[int] = set()
        lo = 0
        # Ascending, so each look-up starts where the last one ended.
        for uid in sorted(uids):
            i = bisect.bisect_left(known, uid, lo)
            if i == len(known):
                break
            lo = i
            if known[i] == uid and ((uid not in pending) if pool is None else (i in pool)):
                found.add(i)
        return found

    async def _header_matches(self, i: int, key: c.KeyHeader) -> bool:
        await self.budget.charge()
        name = key.name.lower().encode("utf-8", "replace")
        needle = key.value.casefold()
        for field, value in await self.headers(i):
            if field == name and needle in decode_words(value).casefold():
                return True
        return False

    def _meta_matches(self, message: StoredMessage, key: c.SearchKey) -> bool:
        if isinstance(key, c.KeySaveDate | c.KeyObjectId):
            return objectid_matches(message, key)
        if isinstance(key, c.KeySize):
            return message.size > key.size if key.larger else message.size < key.size
        if isinstance(key, c.KeyDate):
            if key.sent:
                day = sent_date(self.parsed(message).envelope.date)
            else:
                day = _utc_date(message.internaldate)
            if day is None:
                return False
            want = datetime.date(*key.date)
            return (
                day < want if key.op == "before" else day == want if key.op == "on" else day >= want
            )
        return False


def sent_date(value: bytes | None) -> datetime.date | None:
    """RFC 9051 §6.4.4 SENT*: the day of the Date: field, its time and zone disregarded."""
    if value is None:
        return None
    parsed = email.utils.parsedate_tz(value.decode("ascii", "replace"))
    if parsed is None:
        return None
    try:
        return datetime.date(parsed[0], parsed[1], parsed[2])
    except ValueError:
        return None


def _utc_date(stamp: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).date()


def _cost(key: c.SearchKey) -> int:
    if isinstance(key, c.KeyFlag | c.KeySeq | c.KeyModSeq | c.KeyAll):
        return 0
    if isinstance(key, c.KeyText):
        return 1
    if isinstance(key, c.KeyHeader | c.KeyDate):
        return 3
    return 2


def check_charset(charset: str | None) -> None:
    if charset is not None and charset.upper() not in CHARSETS:
        raise No("Unsupported charset", "BADCHARSET (US-ASCII UTF-8)")


async def search(s: Session, cmd: c.Search) -> str:
    view = s.selected()
    check_charset(cmd.charset)
    s.contexts.check(cmd.tag, cmd.return_opts)
    searcher = Searcher(s, view)
    found = sorted(await searcher.evaluate(cmd.key))
    numbers = [view.uids[i] if cmd.uid else i + 1 for i in found]
    opts = cmd.return_opts
    if opts is None and s.rev2:
        opts = ()
    modseq = _result_modseq(view, found, opts) if searcher.max_modseq_key else None
    if opts is None:
        line = " ".join(["SEARCH", *map(str, numbers)])
        if modseq:
            line += f" (MODSEQ {modseq})"
        s.conn.write(r.untagged(line))
        return "SEARCH completed"
    if "SAVE" in opts:
        s.save_search(saved_uids(view, found, opts, cmd.partial))
        if opts == ("SAVE",):
            return "SEARCH completed"
    line = result_line(cmd.tag, cmd.uid, numbers, opts, modseq=modseq, partial=cmd.partial)
    s.conn.write(r.untagged(line))
    refused = s.contexts.start(view, cmd, [view.uids[i] for i in found])
    if refused is not None:
        s.conn.write(refused)
    return "SEARCH completed"


def _result_modseq(view: SelectedView, found: list[int], opts: tuple[str, ...] | None) -> int:
    """RFC 7162 §3.1.5 / RFC 4731 §3.2: the highest mod-sequence of the messages
    reported; with only MIN and/or MAX asked, those are the only ones reported."""
    if not found:
        return 0
    wanted = set(opts or ()) - {"SAVE"}
    if wanted and wanted <= {"MIN", "MAX"}:
        picked = [found[0]] if "MIN" in wanted else []
        if "MAX" in wanted:
            picked.append(found[-1])
        return max(view.modseqs[i] for i in picked)
    return max(view.modseqs[i] for i in found)


def saved_uids(
    view: SelectedView, found: list[int], opts: tuple[str, ...], partial: tuple[int, int] | None
) -> list[int]:
    """RFC 5182 §2.4: with MIN and/or MAX (and no ALL/COUNT) only those are saved;
    with PARTIAL (RFC 9394), the messages it returns."""
    if partial is not None:
        return sorted(view.uids[i] for i in found[partial_slice(len(found), partial)])
    if found and set(opts) - {"SAVE"} and set(opts) <= {"SAVE", "MIN", "MAX"}:
        picked = set()
        if "MIN" in opts:
            picked.add(found[0])
        if "MAX" in opts:
            picked.add(found[-1])
        return [view.uids[i] for i in sorted(picked)]
    return [view.uids[i] for i in found]
