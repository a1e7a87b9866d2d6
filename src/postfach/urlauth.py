"""URLAUTH (RFC 4467): IMAP URLs that carry their own authorization, and reading
what a message URL names, for IMAP's GENURLAUTH/URLFETCH/CATENATE and SMTP's
BURL (RFC 4468).

A token is the INTERNAL mechanism: HMAC-SHA256 of the "rump" URL (up to and
including `;URLAUTH=<access>`) with the mailbox's key (store.urlauth), 128 bits
in hex. RESETKEY replaces the key, so every URL made with it stops working.
Access (RFC 4467 §3): `anonymous` (anyone), `authuser` (any user of this
server), `user+NAME` (NAME, logged in), `submit+NAME` (the submission server for
NAME, i.e. BURL from NAME's SMTP session).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Collection
from urllib.parse import unquote

from postfach.imapurl import ImapUrl, parse_section, parse_url, rump
from postfach.message import ParsedMessage, section_bytes
from postfach.store.api import StoreApi
from postfach.store.records import Account, Mailbox, Uid

__all__ = ["MECHANISM", "UrlauthError", "fetch", "generate", "url_data"]

MECHANISM = "INTERNAL"
_ACCESS = re.compile(r"anonymous|authuser|(?:user|submit)\+[^:;/]+", re.I)
_AUTH = re.compile(r":INTERNAL:([0-9a-f]{32})", re.I)


class UrlauthError(Exception):
    """A URL GENURLAUTH cannot sign; the text says why."""


def _token(key: bytes, signed: str) -> str:
    return hmac.new(key, signed.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _expired(url: ImapUrl, now: float) -> bool:
    """RFC 4467 ;EXPIRE= is an RFC 3339 date-time; one that cannot be read has passed."""
    if url.expire is None:
        return False
    try:
        when = datetime.datetime.fromisoformat(url.expire.upper())
    except ValueError:
        return True
    if when.tzinfo is None:
        return True
    return when.timestamp() <= now


async def generate(
    store: StoreApi, account: Account, hostnames: Collection[str], text: str, mechanism: str
) -> str:
    """GENURLAUTH: the URL with `:internal:<token>` added."""
    if mechanism.upper() != MECHANISM:
        raise UrlauthError(f"Unsupported URLAUTH mechanism {mechanism[:40]}")
    signed = rump(text)
    if signed is None or signed != text:
        raise UrlauthError("The URL must end in ;URLAUTH=<access>")
    try:
        url = parse_url(text)
    except ValueError as exc:
        raise UrlauthError(f"Invalid URL: {exc}") from None
    if not _ACCESS.fullmatch(url.urlauth or ""):
        raise UrlauthError("Invalid URLAUTH access identifier")
    if url.host not in hostnames or (url.user or "").lower() != account.address.lower():
        raise UrlauthError("The URL must name this server and your own mailbox")
    mailbox = await store.mailboxes.get_mailbox(account.id, url.mailbox)
    if mailbox is None:
        raise UrlauthError("No such mailbox")
    key = await store.urlauth.make_urlauth_key(account.id, mailbox.id)
    return f"{text}:internal:{_token(key, signed)}"


def _allowed(access: str, requester: str | None, submit: bool) -> bool:
    lowered = access.lower()
    if lowered == "anonymous":
        return True
    if requester is None:
        return False
    if lowered == "authuser":
        return True
    kind, _, name = lowered.partition("+")
    if kind == "submit" and not submit:
        return False
    return unquote(name) == requester.lower()


async def fetch(
    store: StoreApi,
    hostnames: Collection[str],
    text: str,
    requester: str | None,
    *,
    submit: bool = False,
    now: float,
) -> bytes | None:
    """URLFETCH (and BURL with `submit`): what the URL names when its token is good
    and `requester` (a user's address, or None) may read it; else None."""
    signed = rump(text)
    if signed is None:
        return None
    found = _AUTH.fullmatch(text[len(signed) :])
    try:
        url = parse_url(signed)
    except ValueError:
        return None
    access = url.urlauth or ""
    if found is None or not _ACCESS.fullmatch(access) or _expired(url, now):
        return None
    if url.host not in hostnames or not _allowed(access, requester, submit):
        return None
    owner = await store.accounts.get_account((url.user or "").lower())
    if owner is None:
        return None
    mailbox = await store.mailboxes.get_mailbox(owner.id, url.mailbox)
    if mailbox is None:
        return None
    key = await store.urlauth.urlauth_key(mailbox.id)
    if key is None or not hmac.compare_digest(_token(key, signed), found.group(1).lower()):
        return None
    return await url_data(store, mailbox, url)


async def url_data(store: StoreApi, mailbox: Mailbox, url: ImapUrl) -> bytes | None:
    """The message, section or partial a URL names in `mailbox`; None when it is not there."""
    if url.uidvalidity not in (None, mailbox.uidvalidity):
        return None
    found = await store.mail.get_messages(mailbox.id, [Uid(url.uid)])
    if not found:
        return None
    message = found[0]
    blob = await store.mail.read_blob(message.blob_sha256)
    if url.section is None:
        data: bytes | None = message.prefix + blob
    else:
        try:
            section = parse_section(url.section)
        except ValueError:
            return None
        tree = ParsedMessage.from_json(message.parsed)
        data = section_bytes(
            blob, tree, section.parts, section.text, section.fields, prefix=message.prefix
        )
    if data is None:
        return None
    if url.partial is not None:
        start, length = url.partial
        data = data[start : None if length is None else start + length]
    return data
