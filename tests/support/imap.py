"""IMAP from the outside, as a mail program does it (imaplib; blocking, so call
it through asyncio.to_thread from an async test)."""

from __future__ import annotations

import imaplib

__all__ = ["imap_append"]


def imap_append(port: int, address: str, password: str, *messages: bytes) -> None:
    """Logs in on 127.0.0.1:`port` and APPENDs each message to INBOX."""
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(address, password)
    for raw in messages:
        status, _ = client.append("INBOX", None, None, raw)
        assert status == "OK"
    client.logout()
