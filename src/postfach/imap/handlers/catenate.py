"""CATENATE (RFC 4469): an APPEND whose message is made of TEXT literals and IMAP
URLs (RFC 5092) naming messages or parts in the user's own mailboxes, so a
client forwards or re-edits a draft without downloading and uploading it.

A URL is relative to this server and user (`/Drafts;UIDVALIDITY=1/;UID=20`),
absolute with this server's hostname and the user's own name, or a URL with
URLAUTH (RFC 4467) this user may fetch; anything else, a message
that is not there or a UIDVALIDITY that does not match is `NO [BADURL "url"]`.
A result over the message size limit is `NO [TOOBIG]`. Reading through a URL
does not set \\Seen (RFC 4469 §5).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from postfach import urlauth
from postfach.imap import commands as c
from postfach.imap.errors import No
from postfach.imap.grammar import quoted
from postfach.imapurl import ImapUrl, parse_url

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["catenated", "hostnames", "read_url"]


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


def hostnames(s: Session) -> set[str]:
    """The names URLs may give this server."""
    config = s.ctx.config
    return {config.server.hostname.lower(), config.public_name.lower()}


def _own(s: Session, url: ImapUrl) -> bool:
    """A relative URL, or one naming this server and this user."""
    if url.host is None:
        return True
    account = s.require_account()
    return url.host in hostnames(s) and (url.user or "").lower() == account.address.lower()


async def read_url(s: Session, text: str) -> bytes:
    """The octets a message URL names, or NO [BADURL]; a URL with URLAUTH is read as
    URLFETCH would read it for this user (RFC 4469 §5)."""
    try:
        url = parse_url(text)
    except ValueError:
        raise _bad_url(text) from None
    store = s.ctx.store
    account = s.require_account()
    data: bytes | None = None
    if url.urlauth is not None:
        now = time.time()
        data = await urlauth.fetch(store, hostnames(s), text, account.address, now=now)
    elif url.expire is None and _own(s, url):
        mailbox = await store.mailboxes.get_mailbox(account.id, url.mailbox)
        if mailbox is not None:
            data = await urlauth.url_data(store, mailbox, url)
    if data is None:
        raise _bad_url(text)
    return data
