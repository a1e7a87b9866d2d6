"""FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).

FLAGS, UID and MODSEQ come from the selected view without touching the store;
anything else reads message metadata in batches, and the bytes (prefix +
blob) only for items that need them. Responses are written batch by batch
and drained, so a 100,000-message `UID FETCH 1:* (FLAGS)` streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.grammar import compact_uids, format_datetime
from postfach.imap.handlers.common import resolve
from postfach.imap.mime import MimePart, UnknownEncoding, section_bytes
from postfach.imap.selected import SelectedView, format_flags
from postfach.store.records import ModSeq, StoredMessage, Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["fetch"]

BATCH = 200
VIEW_ONLY = frozenset({"FLAGS", "UID", "MODSEQ"})
NEEDS_RAW = frozenset(
    {
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "BINARY",
        "BINARY.SIZE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
    }
)
SETS_SEEN = frozenset({"BODY", "BINARY", "RFC822", "RFC822.TEXT"})


async def fetch(s: Session, cmd: c.Fetch) -> str:
    view = s.selected()
    indexes = resolve(s, view, cmd.seqset, cmd.uid)
    items = list(cmd.items)
    if cmd.changedsince is not None:
        s.enabled.add("CONDSTORE")
        indexes = [i for i in indexes if view.modseqs[i] > cmd.changedsince]
        if cmd.vanished:
            await _vanished(s, view, cmd)
    if s.condstore and cmd.changedsince is not None and not any(i.name == "MODSEQ" for i in items):
        items.append(c.FetchAtt("MODSEQ"))
    if not view.readonly and any(_sets_seen(i) for i in items):
        await _mark_seen(s, view, indexes, items)
    if all(i.name in VIEW_ONLY for i in items):
        _write_view_only(s, view, indexes, items)
        await s.conn.flush()
        return "FETCH completed"
    for start in range(0, len(indexes), BATCH):
        await _fetch_batch(s, view, indexes[start : start + BATCH], items)
        await s.conn.flush()
    return "FETCH completed"


def _sets_seen(item: c.FetchAtt) -> bool:
    if item.name not in SETS_SEEN or item.peek:
        return False
    return item.name != "BODY" or item.section is not None


async def _mark_seen(
    s: Session, view: SelectedView, indexes: list[int], items: list[c.FetchAtt]
) -> None:
    """RFC 9051 §6.4.5: BODY[...] sets \\Seen; the response then carries FLAGS."""
    unseen = [Uid(view.uids[i]) for i in indexes if "\\Seen" not in view.flags[i]]
    if not unseen:
        return
    changed, _ = await s.ctx.store.store_flags(
        view.mailbox_id, unseen, "add", frozenset({"\\Seen"})
    )
    view.own_flags(changed)
    if not any(i.name == "FLAGS" for i in items):
        items.append(c.FetchAtt("FLAGS"))


async def _vanished(s: Session, view: SelectedView, cmd: c.Fetch) -> None:
    """RFC 7162 §3.2.6: VANISHED (EARLIER) for UIDs of the set expunged since CHANGEDSINCE."""
    assert cmd.changedsince is not None
    gone = await s.ctx.store.expunged_since(view.mailbox_id, ModSeq(cmd.changedsince))
    largest = view.uids[-1] if view.uids else 0
    gone = [u for u in gone if cmd.seqset.contains_uid(int(u), max(largest, int(u)))]
    if gone:
        s.conn.write(
            r.untagged(b"VANISHED (EARLIER) " + compact_uids(int(u) for u in gone).encode())
        )


def _write_view_only(
    s: Session, view: SelectedView, indexes: list[int], items: list[c.FetchAtt]
) -> None:
    names = [i.name for i in items]
    chunk: list[bytes] = []
    uids, flags, modseqs = view.uids, view.flags, view.modseqs
    rendered: dict[frozenset[str], bytes] = {}
    for i in indexes:
        parts = []
        for name in names:
            if name == "UID":
                parts.append(b"UID %d" % uids[i])
            elif name == "FLAGS":
                f = flags[i]
                text = rendered.get(f)
                if text is None:
                    text = rendered[f] = format_flags(f)
                parts.append(b"FLAGS " + text)
            else:
                parts.append(b"MODSEQ (%d)" % modseqs[i])
        chunk.append(b"* %d FETCH (%s)\r\n" % (i + 1, b" ".join(parts)))
        if len(chunk) >= 2000:
            s.conn.write(b"".join(chunk))
            chunk.clear()
    s.conn.write(b"".join(chunk))


async def _fetch_batch(
    s: Session, view: SelectedView, batch: list[int], items: list[c.FetchAtt]
) -> None:
    store = s.ctx.store
    messages = {
        m.uid: m
        for m in await store.get_messages(view.mailbox_id, [Uid(view.uids[i]) for i in batch])
    }
    needs_raw = any(i.name in NEEDS_RAW for i in items)
    for i in batch:
        message = messages.get(Uid(view.uids[i]))
        if message is None:
            continue  # expunged by another session, not yet announced
        raw = await store.read_raw(message) if needs_raw else b""
        s.conn.write(
            b"* %d FETCH (" % (i + 1) + _render(s, view, i, message, raw, items) + b")\r\n"
        )


def _render(
    s: Session,
    view: SelectedView,
    i: int,
    message: StoredMessage,
    raw: bytes,
    items: list[c.FetchAtt],
) -> bytes:
    parts: list[bytes] = []
    mime: MimePart | None = None
    for item in items:
        name = item.name
        if (
            name
            in (
                "ENVELOPE",
                "BODYSTRUCTURE",
                "BODY",
                "BINARY",
                "BINARY.SIZE",
                "RFC822.HEADER",
                "RFC822.TEXT",
            )
            and mime is None
        ):
            mime = MimePart.parse(raw)
        parts.append(_item(s, view, i, message, raw, mime, item))
    return b" ".join(parts)


def _item(
    s: Session,
    view: SelectedView,
    i: int,
    message: StoredMessage,
    raw: bytes,
    mime: MimePart | None,
    item: c.FetchAtt,
) -> bytes:
    name = item.name
    if name == "FLAGS":
        return b"FLAGS " + format_flags(view.flags[i])
    if name == "UID":
        return b"UID %d" % view.uids[i]
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % view.modseqs[i]
    if name == "INTERNALDATE":
        return b'INTERNALDATE "' + format_datetime(message.internaldate).encode() + b'"'
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % (len(raw) if raw else message.size)
    if name in ("SAVEDATE", "EMAILID", "THREADID"):
        return name.encode() + b" NIL"
    if name == "RFC822":
        return b"RFC822 " + _literal(raw)
    assert mime is not None
    if name == "ENVELOPE":
        return b"ENVELOPE " + mime.envelope(s.utf8)
    if name == "BODYSTRUCTURE" or (name == "BODY" and item.section is None):
        return name.encode() + b" " + mime.bodystructure(name == "BODYSTRUCTURE", s.utf8)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + _literal(mime.header)
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + _literal(mime.body)
    return _section_item(mime, raw, item)


def _section_item(mime: MimePart, raw: bytes, item: c.FetchAtt) -> bytes:
    section = item.section
    assert section is not None
    label = f"{item.name}[{section.spec()}]".encode()
    if item.name == "BODY":
        data = section_bytes(mime, raw, section.parts, section.text, section.fields)
        if data is None:
            data = b""
    else:
        part = mime.subpart(section.parts) if section.parts else mime
        if part is None:
            data = b""
        elif part.is_multipart or (part.is_message and section.parts):
            data = part.body
        else:
            try:
                data = part.decoded() if section.parts else raw
            except UnknownEncoding:
                raise No("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE") from None
        if item.name == "BINARY.SIZE":
            return label + b" %d" % len(data)
    if item.partial is not None:
        start, length = item.partial
        data = data[start : start + length]
        label += b"<%d>" % start
    if item.name == "BINARY" and b"\0" in data:
        return label + b" ~{%d}\r\n" % len(data) + data
    return label + b" " + _literal(data)


def _literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data
