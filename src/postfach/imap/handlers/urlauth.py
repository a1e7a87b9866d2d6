"""URLAUTH (RFC 4467): GENURLAUTH, RESETKEY and URLFETCH; the tokens and what a URL
reads are postfach/urlauth.py's, shared with SMTP's BURL."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from postfach import urlauth
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.errors import No
from postfach.imap.grammar import quoted
from postfach.imap.handlers.catenate import hostnames
from postfach.imap.handlers.mailboxes import mailbox_or_fail

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["genurlauth", "resetkey", "urlfetch"]


async def genurlauth(s: Session, cmd: c.GenUrlAuth) -> str:
    """RFC 4467 §6.2: every URL signed, or NO and none."""
    account = s.require_account()
    signed: list[bytes] = []
    for url, mechanism in cmd.urls:
        try:
            full = await urlauth.generate(s.ctx.store, account, hostnames(s), url, mechanism)
        except urlauth.UrlauthError as exc:
            raise No(str(exc)) from None
        signed.append(quoted(full))
    s.conn.write(r.untagged(b"GENURLAUTH " + b" ".join(signed)))
    return "GENURLAUTH completed"


async def resetkey(s: Session, cmd: c.ResetKey) -> str:
    """RFC 4467 §6.1: new keys for one mailbox or all; URLs made before stop working."""
    account = s.require_account()
    for mechanism in cmd.mechanisms:
        if mechanism != urlauth.MECHANISM:
            raise No(f"Unsupported URLAUTH mechanism {mechanism[:40]}")
    mailbox_id = None
    if cmd.mailbox is not None:
        mailbox_id = (await mailbox_or_fail(s, cmd.mailbox)).id
    await s.ctx.store.urlauth.reset_urlauth_keys(account.id, mailbox_id)
    return f"[URLMECH {urlauth.MECHANISM}] RESETKEY completed"


async def urlfetch(s: Session, cmd: c.UrlFetch) -> str:
    """RFC 4467 §6.3: each URL with its data, NIL for one that may not be read."""
    account = s.require_account()
    names = hostnames(s)
    out: list[bytes] = []
    for url in cmd.urls:
        data = await urlauth.fetch(s.ctx.store, names, url, account.address, now=time.time())
        value = b"NIL" if data is None else b"{%d}\r\n" % len(data) + data
        out.append(quoted(url) + b" " + value)
    s.conn.write(r.untagged(b"URLFETCH " + b" ".join(out)))
    return "URLFETCH completed"
