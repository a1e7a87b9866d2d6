from __future__ import annotations

import asyncio
import imaplib


async def test_imaplib_basic(imap):
    port = imap.port("imap")

    def run():
        c = imaplib.IMAP4(imap.host, port)
        c.login("a@example.org", "secret-pass")
        typ, data = c.select("INBOX")
        assert typ == "OK", data
        typ, data = c.append(
            "INBOX", r"(\Seen)", None, b"From: x@y.org\r\nSubject: hi\r\n\r\nbody\r\n"
        )
        assert typ == "OK", data
        typ, data = c.fetch("1", "(FLAGS BODY[] ENVELOPE BODYSTRUCTURE)")
        assert typ == "OK", data
        print(data)
        typ, data = c.search(None, "ALL")
        print(typ, data)
        c.logout()

    await asyncio.to_thread(run)
