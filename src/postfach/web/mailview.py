"""What webmail shows of a message, built from the parsed form the store keeps.

Nothing here parses a message again: the envelope, the body tree and its byte
offsets come from `ParsedMessage.from_json(stored.parsed)`; bodies are cut from
the blob and transfer-decoded with `postfach.message.decode_part_body`. Part
numbers are IMAP's (RFC 9051 §6.4.5), so `find_part` finds them again for a
download.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from postfach.message import (
    BodyPart,
    ParsedMessage,
    decode_part_body,
    decode_words,
    find_part,
    param_value,
)
from postfach.message.headers import decode_charset
from postfach.message.model import Address
from postfach.store.records import StoredMessage
from postfach.web.sanitize import sanitize_html

__all__ = [
    "Attachment",
    "MessageView",
    "Summary",
    "attachment_bytes",
    "format_part",
    "message_view",
    "parse_part",
    "summary",
]

_DIGITS = re.compile(r"[0-9]{1,5}")
MAX_TEXT = 2 * 1024 * 1024  # characters of a body shown at most
MAX_INLINE_IMAGE = 2 * 1024 * 1024  # octets of a cid: image turned into a data: URL


@dataclass(frozen=True, slots=True)
class Summary:
    """One line of a message list."""

    uid: int
    subject: str
    sender: str
    date: str
    seen: bool
    flagged: bool
    size: int


@dataclass(frozen=True, slots=True)
class Attachment:
    part: str  # IMAP part number, e.g. "2" or "1.3"
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageView:
    subject: str
    sender: str
    to: str
    cc: str
    date: str
    text: str | None
    html: str | None  # sanitised
    blocked_images: int
    attachments: tuple[Attachment, ...]


def format_date(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _address(a: Address) -> str:
    if a.mailbox is None:  # group syntax markers
        return ""
    email = (a.mailbox + b"@" + a.host).decode("utf-8", "replace") if a.host else ""
    name = decode_words(a.name) if a.name else ""
    return f"{name} <{email}>" if name else email


def _addresses(addrs: tuple[Address, ...] | None) -> str:
    return ", ".join(filter(None, (_address(a) for a in addrs or ())))


def _text(raw: bytes | None) -> str:
    return decode_words(raw) if raw else ""


def summary(stored: StoredMessage) -> Summary:
    envelope = ParsedMessage.from_json(stored.parsed).envelope
    return Summary(
        uid=stored.uid,
        subject=_text(envelope.subject) or "(no subject)",
        sender=_addresses(envelope.from_) or "(unknown sender)",
        date=format_date(stored.internaldate),
        seen="\\Seen" in stored.flags,
        flagged="\\Flagged" in stored.flags,
        size=stored.size,
    )


def format_part(number: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in number)


def parse_part(text: str) -> tuple[int, ...] | None:
    pieces = text.split(".")
    if not text or len(pieces) > 20 or not all(_DIGITS.fullmatch(p) for p in pieces):
        return None
    return tuple(int(p) for p in pieces)


def leaves(
    body: BodyPart, prefix: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], BodyPart]]:
    """Every non-multipart part with its IMAP part number; an attached message
    is one leaf (it downloads as .eml)."""
    if not body.parts:
        yield (prefix or (1,)), body
        return
    for index, child in enumerate(body.parts, 1):
        yield from leaves(child, (*prefix, index))


def filename(part: BodyPart) -> str:
    name = None
    if part.disposition is not None:
        name = param_value(part.disposition[1], "filename")
    name = name or param_value(part.params, "name") or ""
    if "=?" in name:
        name = decode_words(name.encode("utf-8", "replace"))
    return name.replace("/", "_").replace("\\", "_").strip()


def _is_body(part: BodyPart) -> bool:
    attached = part.disposition is not None and part.disposition[0].lower() == "attachment"
    return part.type == "text" and part.subtype in {"plain", "html"} and not attached


def _decoded_text(raw: bytes, part: BodyPart) -> str:
    data = decode_part_body(raw, part)
    if data is None:
        data = raw[part.header_end : part.body_end]
    return decode_charset(data, param_value(part.params, "charset"))[:MAX_TEXT]


def _content_id(part: BodyPart) -> str:
    return (part.id or "").strip().strip("<>").strip()


def _inliner(raw: bytes, parsed: ParsedMessage) -> dict[str, str]:
    """cid → data: URL for the images an HTML body refers to."""
    images: dict[str, str] = {}
    for _number, part in leaves(parsed.body):
        cid = _content_id(part)
        if not cid or part.type != "image" or part.size > MAX_INLINE_IMAGE * 4 // 3 + 1024:
            continue
        data = decode_part_body(raw, part)
        if data is not None:
            encoded = base64.b64encode(data).decode("ascii")
            images[cid] = f"data:image/{part.subtype};base64,{encoded}"
    return images


def message_view(stored: StoredMessage, raw: bytes, remote_images: bool) -> MessageView:
    """`raw` is the blob alone (offsets index it, not the trace prefix)."""
    parsed = ParsedMessage.from_json(stored.parsed)
    envelope = parsed.envelope
    text_part: BodyPart | None = None
    html_part: BodyPart | None = None
    attachments: list[Attachment] = []
    for number, part in leaves(parsed.body):
        if _is_body(part) and part.subtype == "plain" and text_part is None:
            text_part = part
        elif _is_body(part) and part.subtype == "html" and html_part is None:
            html_part = part
        else:
            content_type = f"{part.type}/{part.subtype}"
            name = filename(part) or f"part-{format_part(number)}"
            attachments.append(Attachment(format_part(number), name, content_type, part.size))
    html, blocked = None, 0
    if html_part is not None:
        images = _inliner(raw, parsed)
        clean = sanitize_html(
            _decoded_text(raw, html_part), remote_images=remote_images, inline=images.get
        )
        html, blocked = clean.html, clean.blocked_images
    return MessageView(
        subject=_text(envelope.subject) or "(no subject)",
        sender=_addresses(envelope.from_),
        to=_addresses(envelope.to),
        cc=_addresses(envelope.cc),
        date=_text(envelope.date) or format_date(stored.internaldate),
        text=_decoded_text(raw, text_part) if text_part is not None else None,
        html=html,
        blocked_images=blocked,
        attachments=tuple(attachments),
    )


def attachment_bytes(
    stored: StoredMessage, raw: bytes, number: tuple[int, ...]
) -> tuple[bytes, str, str] | None:
    """(content, content type, file name) of one part, or None."""
    parsed = ParsedMessage.from_json(stored.parsed)
    part = find_part(parsed, number)
    if part is None or part.parts:
        return None
    data = decode_part_body(raw, part)
    if data is None:
        data = raw[part.header_end : part.body_end]
    name = filename(part) or f"part-{format_part(number)}"
    if part.type == "message" and not name.endswith(".eml"):
        name += ".eml"
    return data, f"{part.type}/{part.subtype}", name
