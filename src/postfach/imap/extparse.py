"""Parsers of the commands extensions add: RFC 5267 CANCELUPDATE, RFC 4467
URLAUTH's GENURLAUTH, RESETKEY and URLFETCH, and RFC 5465 NOTIFY (notifyparse.py);
parser.py takes them all from `EXTENSION_PARSERS`."""

from __future__ import annotations

from collections.abc import Callable

from postfach.imap import commands as c
from postfach.imap.lexer import Cursor
from postfach.imap.notifyparse import p_notify
from postfach.imap.returnparse import p_cancelupdate

__all__ = ["EXTENSION_PARSERS"]


def _url(cur: Cursor) -> str:
    return cur.astring_bytes().decode("utf-8", "replace")


def p_genurlauth(cur: Cursor, uid: bool) -> c.GenUrlAuth:
    """GENURLAUTH 1*(SP url-rump SP mechanism)."""
    pairs: list[tuple[str, str]] = []
    while cur.take(b" "):
        url = _url(cur)
        cur.sp()
        pairs.append((url, cur.atom("mechanism").upper()))
    if not pairs:
        raise cur.fail("GENURLAUTH needs a URL and a mechanism")
    return c.GenUrlAuth(cur.tag or "", tuple(pairs))


def p_resetkey(cur: Cursor, uid: bool) -> c.ResetKey:
    """RESETKEY [SP mailbox *(SP mechanism)]."""
    if not cur.take(b" "):
        return c.ResetKey(cur.tag or "")
    mailbox = cur.mailbox()
    mechanisms: list[str] = []
    while cur.take(b" "):
        mechanisms.append(cur.atom("mechanism").upper())
    return c.ResetKey(cur.tag or "", mailbox, tuple(mechanisms))


def p_urlfetch(cur: Cursor, uid: bool) -> c.UrlFetch:
    """URLFETCH 1*(SP url)."""
    urls: list[str] = []
    while cur.take(b" "):
        urls.append(_url(cur))
    if not urls:
        raise cur.fail("URLFETCH needs a URL")
    return c.UrlFetch(cur.tag or "", tuple(urls))


EXTENSION_PARSERS: dict[str, Callable[[Cursor, bool], c.Command]] = {
    "CANCELUPDATE": p_cancelupdate,
    "GENURLAUTH": p_genurlauth,
    "RESETKEY": p_resetkey,
    "URLFETCH": p_urlfetch,
    "NOTIFY": p_notify,
}
