"""BURL (RFC 4468): message content by reference. A mail program that saved its
draft over IMAP and made a URLAUTH URL for it (`;urlauth=submit+USER`, RFC 4467)
sends `BURL <url> [LAST]` instead of the message: the submission server reads
the URL from the store itself, as a trusted submit entity for the logged-in
user, and treats the content as a BDAT chunk would be (RFC 4468 §3)."""

from __future__ import annotations

import time

from postfach import urlauth
from postfach.smtp import replies
from postfach.smtp.errors import SmtpError
from postfach.smtp.service import SmtpService
from postfach.store.records import Account

__all__ = ["BURL_OK", "burl_content"]

BURL_OK = replies.Reply(250, "2.5.0", "Waiting for additional BURL or BDAT commands")
BURL_UNSUPPORTED = replies.Reply(554, "5.3.3", "Unrecognized URL type")
BURL_FAILED = replies.Reply(554, "5.6.6", "IMAP URL resolution failed")


async def burl_content(service: SmtpService, account: Account | None, url: str) -> bytes:
    """What the URL names, or the SMTP error to reply with."""
    if account is None:
        raise SmtpError(replies.AUTH_REQUIRED)
    if url[:7].lower() != "imap://":
        raise SmtpError(BURL_UNSUPPORTED)
    config = service.ctx.config
    names = {config.server.hostname.lower(), config.public_name.lower()}
    data = await urlauth.fetch(
        service.ctx.store, names, url, account.address, submit=True, now=time.time()
    )
    if data is None:
        raise SmtpError(BURL_FAILED)
    return data
