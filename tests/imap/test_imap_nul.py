"""NUL octets (issue #14 point 9): a plain literal never carries one (RFC 9051 §4.3,
ABNF CHAR8), in either direction; RFC 3516 literal8 `~{n}` may."""

from __future__ import annotations

import re

from tests.imap.conftest import USER

WITH_NUL = (
    b"From: x@example.net\r\nTo: a@example.org\r\nSubject: odd\0subject\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/plain\r\n\r\nbad\0byte\r\n--B--\r\n"
)
LITERAL = re.compile(r"(~?)\{(\d+)\}\r\n")


def literals(line: str) -> list[tuple[bool, str]]:
    """(is literal8, content) of every literal in a response line (latin-1: one char per octet)."""
    out = []
    for match in LITERAL.finditer(line):
        start = match.end()
        out.append((bool(match.group(1)), line[start : start + int(match.group(2))]))
    return out


async def test_append_refuses_nul_in_a_plain_literal(wire):
    c = await wire()
    message = b"Subject: x\r\n\r\nnul\0here\r\n"
    status = await c.bad(b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    assert "NUL" in status
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 0)"]
    # the session goes on, and literal8 (RFC 3516) may carry binary content
    await c.ok(b"APPEND INBOX ~{%d+}\r\n" % len(message) + message)
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 1)"]


async def test_fetch_never_sends_nul_in_a_plain_literal(imap, wire):
    store = imap.ctx.store
    account = await store.accounts.get_account(USER)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    await store.mail.append(inbox.id, WITH_NUL)  # as old data would be: stored with NUL
    c = await wire(select="INBOX")
    items = "BODY.PEEK[] RFC822 RFC822.HEADER RFC822.TEXT BODY.PEEK[1] BODY.PEEK[TEXT] ENVELOPE"
    [line] = await c.ok(f"FETCH 1 ({items} RFC822.SIZE)")
    found = literals(line)
    assert len(found) >= 7
    for binary, content in found:
        assert not binary and "\0" not in content
    # the octet count stays: NUL shows as 0x80, as Dovecot serves it
    [whole] = literals((await c.ok("FETCH 1 BODY.PEEK[]"))[0])
    assert whole[1].encode("latin-1") == WITH_NUL.replace(b"\0", b"\x80")
    assert f"RFC822.SIZE {len(WITH_NUL)}" in line
    # BINARY (RFC 3516) serves the octets as they are, in a literal8
    [part] = literals((await c.ok("FETCH 1 BINARY.PEEK[1]"))[0])
    assert part == (True, "bad\0byte")
