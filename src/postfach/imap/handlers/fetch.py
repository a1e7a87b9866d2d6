"""FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).

FLAGS, UID and MODSEQ come from the selected view without touching the store;
anything else reads message metadata in batches. FETCH never parses a message:
ENVELOPE and BODYSTRUCTURE come from the parse the store kept at delivery
(`StoredMessage.parsed`, rebuilt once per blob per command), sections from
`postfach.message.section_bytes` over the blob, which is read only for items
that need bytes (BODY[...], BINARY, RFC822*). Responses are written batch by
batch and drained, so a 100,000-message `UID FETCH 1:* (FLAGS)` streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.grammar import compact_uids, format_datetime
from postfach.imap.handlers.common import resolve
from postfach.imap.objectid import fetch_value
from postfach.imap.selected import SelectedView
from postfach.imap.structure import bodystructure, envelope
from postfach.message import BodyPart, ParsedMessage, decode_part_body, find_part, section_bytes
from postfach.message.decode import IDENTITY_ENCODINGS, KNOWN_ENCODINGS, InvalidEncoding
from postfach.store.api import NotFound
from postfach.store.records import ModSeq, StoredMessage, Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["fetch"]

BATCH = 200
VIEW_ONLY = frozenset({"FLAGS", "UID", "MODSEQ"})
NEEDS_PARSE = frozenset(
    {"ENVELOPE", "BODYSTRUCTURE", "BODY", "BINARY", "BINARY.SIZE", "RFC822.HEADER", "RFC822.TEXT"}
)
RFC822_SECTIONS = {"RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}

BLOB_ITEMS = frozenset({"RFC822", "RFC822.HEADER", "RFC822.TEXT", "BINARY"})

SETS_SEEN = frozenset({"BODY", "BINARY", "RFC822", "RFC822.TEXT"})


async def fetch(s: Session, cmd: c.Fetch) -> str:
    view = s.selected()
    indexes = resolve(s, view, cmd.seqset, cmd.uid)
    items = list(cmd.items)
    if not s.condstore and any(i.name == "MODSEQ" for i in items):
        s.enable("CONDSTORE")  # RFC 7162 §3.1: FETCH MODSEQ is a CONDSTORE enabling command
    if cmd.changedsince is not None:
        s.enable("CONDSTORE")
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
    parsed = Parsed()
    for start in range(0, len(indexes), BATCH):
        await _fetch_batch(s, view, indexes[start : start + BATCH], items, parsed)
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
    changed, _ = await s.ctx.store.mail.store_flags(
        view.mailbox_id, unseen, "add", frozenset({"\\Seen"})
    )
    view.own_flags(changed)
    if not any(i.name == "FLAGS" for i in items):
        items.append(c.FetchAtt("FLAGS"))


async def _vanished(s: Session, view: SelectedView, cmd: c.Fetch) -> None:
    """RFC 7162 §3.2.6: VANISHED (EARLIER) for UIDs of the set expunged since CHANGEDSINCE."""
    assert cmd.changedsince is not None
    gone = await s.ctx.store.mail.expunged_since(view.mailbox_id, ModSeq(cmd.changedsince))
    largest = view.uids[-1] if view.uids else 0
    gone = [u for u in gone if cmd.seqset.contains_uid(int(u), max(largest, int(u)))]
    if gone:
        s.conn.write(
            r.untagged(b"VANISHED (EARLIER) " + compact_uids(int(u) for u in gone).encode())
        )


VIEW_FORMS = {"UID": b"UID %d", "FLAGS": b"FLAGS %s", "MODSEQ": b"MODSEQ (%d)"}
VIEW_CHUNK = 2000


def _write_view_only(
    s: Session, view: SelectedView, indexes: list[int], items: list[c.FetchAtt]
) -> None:
    """The hot path of mail programs (`UID FETCH 1:* (FLAGS)`): one %-format per message."""
    names = [i.name for i in items]
    template = b"* %d FETCH (" + b" ".join(VIEW_FORMS[n] for n in names) + b")\r\n"
    columns = {"UID": view.uids, "MODSEQ": view.modseqs}
    flag_bytes = view.flag_bytes
    for start in range(0, len(indexes), VIEW_CHUNK):
        chunk = indexes[start : start + VIEW_CHUNK]
        values: list[list[Any]] = [[i + 1 for i in chunk]]
        for name in names:
            if name == "FLAGS":
                values.append([flag_bytes(i) for i in chunk])
            else:
                column = columns[name]
                values.append([column[i] for i in chunk])
        s.conn.write(b"".join([template % row for row in zip(*values, strict=True)]))


class Parsed:
    """`ParsedMessage.from_json` once per blob for the length of one FETCH command."""

    def __init__(self) -> None:
        self._cache: dict[str, ParsedMessage] = {}

    def of(self, message: StoredMessage) -> ParsedMessage:
        parsed = self._cache.get(message.blob_sha256)
        if parsed is None:
            parsed = self._cache[message.blob_sha256] = ParsedMessage.from_json(message.parsed)
        return parsed


class Item:
    """One message being rendered: its metadata, its parse, its blob when read."""

    __slots__ = ("message", "parsed", "_blob", "_store")

    def __init__(
        self,
        s: Session,
        message: StoredMessage,
        parsed: ParsedMessage | None,
        blob: bytes | None = None,
    ) -> None:
        self.message = message
        self.parsed = parsed
        self._blob = blob
        self._store = s.ctx.store

    async def blob(self) -> bytes:
        if self._blob is None:
            self._blob = await self._store.mail.read_blob(self.message.blob_sha256)
        return self._blob

    def tree(self) -> ParsedMessage:
        assert self.parsed is not None
        return self.parsed


async def _fetch_batch(
    s: Session, view: SelectedView, batch: list[int], items: list[c.FetchAtt], parsed: Parsed
) -> None:
    messages = {
        m.uid: m
        for m in await s.ctx.store.mail.get_messages(
            view.mailbox_id, [Uid(view.uids[i]) for i in batch]
        )
    }
    needs_parse = any(i.name in NEEDS_PARSE for i in items)
    blobs: dict[str, bytes] = {}
    if len(messages) > 1 and any(_needs_blob(i) for i in items):
        # One query for the batch, not one per message.
        blobs = await s.ctx.store.mail.read_blobs([m.blob_sha256 for m in messages.values()])
    for i in batch:
        message = messages.get(Uid(view.uids[i]))
        if message is None:
            continue  # expunged by another session, not yet announced
        parse = parsed.of(message) if needs_parse else None
        item = Item(s, message, parse, blobs.get(message.blob_sha256))
        try:
            rendered = [await _item(s, view, i, item, att) for att in items]
        except NotFound:
            continue  # expunged since it was read, and its blob freed with it
        s.conn.write(b"* %d FETCH (" % (i + 1) + b" ".join(rendered) + b")\r\n")


def _needs_blob(att: c.FetchAtt) -> bool:
    return att.name in BLOB_ITEMS or (att.name == "BODY" and att.section is not None)


async def _item(s: Session, view: SelectedView, i: int, item: Item, att: c.FetchAtt) -> bytes:
    name = att.name
    message = item.message
    if name == "FLAGS":
        return b"FLAGS " + view.flag_bytes(i)
    if name == "UID":
        return b"UID %d" % view.uids[i]
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % view.modseqs[i]
    if name == "INTERNALDATE":
        return b'INTERNALDATE "' + format_datetime(message.internaldate).encode() + b'"'
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % message.size
    if name in ("SAVEDATE", "EMAILID", "THREADID"):
        return fetch_value(name, message)
    if name == "ENVELOPE":
        return b"ENVELOPE " + envelope(item.tree().envelope, s.utf8)
    if name == "BODYSTRUCTURE" or (name == "BODY" and att.section is None):
        extensible = name == "BODYSTRUCTURE"
        return name.encode() + b" " + bodystructure(item.tree().body, extensible, s.utf8)
    if name in RFC822_SECTIONS:
        spec = RFC822_SECTIONS[name]
        data = section_bytes(await item.blob(), item.tree(), (), spec, prefix=message.prefix)
        return name.encode() + b" " + _literal(data or b"")
    if name == "RFC822":
        return b"RFC822 " + _literal(message.prefix + await item.blob())
    if name == "BODY":
        return await _body_section(item, att)
    return await _binary_section(item, att)


async def _body_section(item: Item, att: c.FetchAtt) -> bytes:
    """BODY[section]<partial>; a section that does not exist is the empty string."""
    section = att.section
    assert section is not None
    data = section_bytes(
        await item.blob(),
        item.tree(),
        section.parts,
        section.text or None,
        section.fields,
        prefix=item.message.prefix,
    )
    return _labelled(att, data or b"")


async def _binary_section(item: Item, att: c.FetchAtt) -> bytes:
    """RFC 3516 BINARY[part]<partial> and BINARY.SIZE[part]: the decoded content."""
    section = att.section
    assert section is not None
    tree = item.tree()
    transformed = False
    part = find_part(tree, section.parts) if section.parts else None
    if section.parts and part is None:
        data = b""
    elif part is None or part.parts or part.message is not None:
        # the whole message, a multipart or an embedded message: served as stored,
        # unless a part in it has an encoding that cannot be undone (as Dovecot does)
        if _unknown_encoding(part or tree.body):
            raise No("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
        whole = section_bytes(
            await item.blob(), tree, section.parts, None, prefix=item.message.prefix
        )
        data = whole or b""
    elif att.name == "BINARY.SIZE" and part.encoding in IDENTITY_ENCODINGS:
        return f"BINARY.SIZE[{section.spec()}] {part.size}".encode()
    else:
        try:
            decoded = decode_part_body(await item.blob(), part, strict=True)
        except InvalidEncoding:
            raise No("Invalid data in MIME part", "PARSE") from None
        if decoded is None:
            raise No("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
        data = decoded
        # decoded content always comes as a literal8, as Dovecot sends it
        transformed = part.encoding not in IDENTITY_ENCODINGS
    if att.name == "BINARY.SIZE":
        return f"BINARY.SIZE[{section.spec()}] {len(data)}".encode()
    return _labelled(att, data, transformed)


def _unknown_encoding(part: BodyPart) -> bool:
    """A leaf at or below `part` whose Content-Transfer-Encoding BINARY cannot undo."""
    stack = [part]
    while stack:
        node = stack.pop()
        if node.parts:
            stack.extend(node.parts)
        elif node.message is not None:
            stack.append(node.message[1])
        elif node.encoding not in KNOWN_ENCODINGS:
            return True
    return False


def _labelled(att: c.FetchAtt, data: bytes, literal8: bool = False) -> bytes:
    section = att.section
    assert section is not None
    label = f"{att.name}[{section.spec()}]".encode()
    if att.partial is not None:
        start, length = att.partial
        data = data[start : start + length]
        label += b"<%d>" % start
    if att.name == "BINARY" and (literal8 or b"\0" in data):
        return label + b" ~{%d}\r\n" % len(data) + data
    return label + b" " + _literal(data)


def _literal(data: bytes) -> bytes:
    """A plain literal never carries NUL (RFC 9051 §4.3): a message stored with one
    (before SMTP refused them, or by BINARYMIME) shows 0x80 there, as Dovecot's
    does; the length stays, and BINARY[] serves the octets as they are."""
    return b"{%d}\r\n" % len(data) + data.replace(b"\0", b"\x80")
