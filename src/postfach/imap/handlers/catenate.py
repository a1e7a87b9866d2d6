"""CATENATE (RFC 4469): an APPEND whose message is made of TEXT literals and IMAP
URLs (RFC 5092) naming messages or parts in the user's own mailboxes, so a
client forwards or re-edits a draft without downloading and uploading it.

A URL is relative to this server and user (`/Drafts;UIDVALIDITY=1/;UID=20`) or
absolute with this server's hostname and the user's own name; anything else,
a message that is not there, a UIDVALIDITY that does not match, or a URL with
URLAUTH (RFC 4467, which postfach does not offer) is `NO [BADURL "url"]`. A
result over the message size limit is `NO [TOOBIG]`. Reading through a URL
does not set \\Seen (RFC 4469 §5).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from postfach.imap import commands as c
from postfach.imap.errors import No
from postfach.imap.fetchparse import fetch_att
from postfach.imap.grammar import quoted
from postfach.imap.imapurl import ImapUrl, parse_url
from postfach.imap.lexer import BadSyntax, Cursor
from postfach.message import ParsedMessage, section_bytes
from postfach.store.records import Uid

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["catenated", "read_url"]


async def catenated(s: Session, message: c.AppendMessage) -> c.AppendMessage:
    """The message with its parts joined into `data` (unchanged without CATENATE)."""
    if message.catenate is None:
        return message
    limit = s.limits.max_message_size
    data = bytearray()
    for part in message.catenate:
        if part.url is not None:
            data += await read_url(s, part.url)
        elif part.text is not None:
            data += part.text
        if len(data) > limit:
            raise No("Message too big", "TOOBIG")
    return dataclasses.replace(message, data=bytes(data), catenate=None)


def _bad_url(url: str) -> No:
    return No("Bad URL", "BADURL " + quoted(url).decode("utf-8", "replace"))


def _own(s: Session, url: ImapUrl) -> bool:
    """A relative URL, or one naming this server and this user."""
    if url.host is None:
        return True
    account = s.require_account()
    names = {s.ctx.config.server.hostname.lower(), s.ctx.config.public_name.lower()}
    return url.host in names and (url.user or "").lower() == account.address.lower()


async def read_url(s: Session, text: str) -> bytes:
    """The octets a message URL names, or NO [BADURL]."""
    try:
        url = parse_url(text)
    except ValueError:
        raise _bad_url(text) from None
    if url.urlauth is not None or url.expire is not None or not _own(s, url):
        raise _bad_url(text)
    store = s.ctx.store
    mailbox = await store.mailboxes.get_mailbox(s.require_account().id, url.mailbox)
    if mailbox is None or url.uidvalidity not in (None, mailbox.uidvalidity):
        raise _bad_url(text)
    found = await store.mail.get_messages(mailbox.id, [Uid(url.uid)])
    if not found:
        raise _bad_url(text)
    message = found[0]
    blob = await store.mail.read_blob(message.blob_sha256)
    if url.section is None:
        data: bytes | None = message.prefix + blob
    else:
        raw = f"BODY.PEEK[{url.section}]".encode()
        cur = Cursor(raw, True)
        try:
            (att,) = fetch_att(cur)
        except (BadSyntax, ValueError):
            raise _bad_url(text) from None
        section = att.section
        if section is None or cur.pos != len(raw):
            raise _bad_url(text)
        tree = ParsedMessage.from_json(message.parsed)
        data = section_bytes(
            blob, tree, section.parts, section.text or None, section.fields, prefix=message.prefix
        )
    if data is None:
        raise _bad_url(text)
    if url.partial is not None:
        start, length = url.partial
        data = data[start : None if length is None else start + length]
    return data
