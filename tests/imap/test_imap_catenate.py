"""CATENATE (RFC 4469) over the wire: APPEND made of TEXT literals and IMAP URLs
(RFC 5092) into the user's own mailboxes, as in RFC 4469 §5's example; with
MULTIAPPEND, BADURL and TOOBIG."""

from __future__ import annotations

import re

from tests.imap.conftest import PASSWORD, USER
from tests.imap.imapwire import Wire
from tests.imap.messages import MULTIPART, SIMPLE, literal

from harness import make_server

BOUNDARY = b"--------------030308070208000400050907"
DRAFT = (
    b"From: a@example.org\r\nTo: bob@example.net\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="' + BOUNDARY[2:] + b'"\r\n\r\n'
    b"--" + BOUNDARY[2:] + b"\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
    b"--" + BOUNDARY[2:] + b"--\r\n"
)


async def stored(c: Wire, mailbox: str, data: bytes) -> tuple[int, int]:
    """(UIDVALIDITY, UID) of a message appended to `mailbox`."""
    _, status = await c.cmd(b"APPEND " + mailbox.encode() + b" " + literal(data))
    found = re.search(r"APPENDUID (\d+) (\d+)", status)
    assert found is not None, status
    return int(found.group(1)), int(found.group(2))


async def body(c: Wire, mailbox: str, uid: int) -> bytes:
    await c.ok(f"EXAMINE {mailbox}")
    (line,) = await c.ok(f"UID FETCH {uid} BODY.PEEK[]")
    data = line.split("\r\n", 1)[1].rsplit(")", 1)[0]
    return data.encode("latin-1")


async def test_capability(wire_any):
    c = await wire_any()
    (line,) = await c.ok("CAPABILITY")
    assert "CATENATE" in line.split()


async def test_rfc4469_example_forwarding_a_draft_with_an_attachment(wire_any):
    """RFC 4469 §5: the header and first part of a draft, a new boundary line,
    an attached message (URL to a whole message), the closing boundary."""
    c = await wire_any()
    validity, draft = await stored(c, "Drafts", DRAFT)
    _, attached = await stored(c, "INBOX", SIMPLE)
    base = f"/Drafts;UIDVALIDITY={validity}/;UID={draft}"
    # synchronizing literals: each TEXT waits for the server's continuation
    texts = [
        b"\r\n" + BOUNDARY + b"\r\n",
        b"\r\n" + BOUNDARY + b"\r\nContent-Type: message/rfc822\r\n\r\n",
        b"\r\n" + BOUNDARY + b"--\r\n",
    ]
    await c.send(
        f'A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL "{base}/;section=HEADER"'
        f" TEXT {{{len(texts[0])}}}\r\n"
    )
    assert await c.line() == "+ Ready for literal data"
    await c.send(
        texts[0]
        + f' URL "{base}/;section=1.MIME" URL "{base}/;section=1"'.encode()
        + f" TEXT {{{len(texts[1])}}}\r\n".encode()
    )
    assert await c.line() == "+ Ready for literal data"
    await c.send(texts[1] + b' URL "/INBOX/;UID=%d" TEXT {%d}\r\n' % (attached, len(texts[2])))
    assert await c.line() == "+ Ready for literal data"
    await c.send(texts[2] + b")\r\n")
    untagged, status = await c.until_tagged("A003")
    assert untagged == []
    found = re.fullmatch(r"OK \[APPENDUID (\d+) (\d+)\] APPEND completed", status)
    assert found is not None, status
    header, _, _ = DRAFT.partition(b"\r\n\r\n")
    expected = (
        header
        + b"\r\n\r\n"  # BODY[HEADER] keeps the blank line
        + b"\r\n"
        + BOUNDARY
        + b"\r\n"
        + b"Content-Type: text/plain\r\n\r\n"  # BODY[1.MIME]
        + b"See the attachment."  # BODY[1]
        + b"\r\n"
        + BOUNDARY
        + b"\r\nContent-Type: message/rfc822\r\n\r\n"
        + SIMPLE
        + b"\r\n"
        + BOUNDARY
        + b"--\r\n"
    )
    assert await body(c, "Drafts", int(found.group(2))) == expected
    flags = await c.ok(f"UID FETCH {found.group(2)} FLAGS")
    assert flags == [f"* 2 FETCH (UID {found.group(2)} FLAGS (\\Draft \\Recent \\Seen $MDNSent))"]
    # reading through a URL did not set \Seen on the source (RFC 4469 §5)
    await c.ok("EXAMINE INBOX")
    (line,) = await c.ok(f"UID FETCH {attached} FLAGS")
    assert line.startswith(f"* 1 FETCH (UID {attached} FLAGS (") and "\\Seen" not in line


async def test_absolute_urls_partial_and_multiappend(wire_any):
    c = await wire_any()
    await c.ok("CREATE Archive/2024")
    validity, uid = await stored(c, "Archive/2024", MULTIPART)
    url = f"imap://{USER.replace('@', '%40')}@mail.example.org/Archive/2024;UIDVALIDITY={validity}"
    cmd = (
        b"APPEND INBOX (\\Flagged) CATENATE (TEXT {9+}\r\nSubject: "
        + f' URL "{url}/;UID={uid}/;SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=9.11"'.encode()
        + b' TEXT {2+}\r\n\r\n URL "/INBOX/;UID=1")'
        + b" "
        + literal(SIMPLE)
    )
    _, status = await c.cmd(b"APPEND INBOX " + literal(b"Subject: first\r\n\r\nbody\r\n"))
    assert status.startswith("OK [APPENDUID")
    _, status = await c.cmd(cmd)
    found = re.fullmatch(r"OK \[APPENDUID \d+ (\d+):(\d+)\] APPEND completed", status)
    assert found is not None, status
    first = int(found.group(1))
    # "Subject: " + 11 octets from offset 9 of the source's Subject field + CRLF + message 1
    expected = b"Subject: =?utf-8?q?G\r\nSubject: first\r\n\r\nbody\r\n"
    assert await body(c, "INBOX", first) == expected
    assert await body(c, "INBOX", int(found.group(2))) == SIMPLE


async def test_bad_urls_store_nothing(wire_any, imap_any):
    c = await wire_any()
    validity, uid = await stored(c, "Drafts", DRAFT)
    other = "b@example.org"
    await imap_any.add_user(other, PASSWORD)
    d = await wire_any(login=False)
    await d.login(other, PASSWORD)
    _, theirs = await stored(d, "INBOX", SIMPLE)
    bad = [
        f"/Drafts;UIDVALIDITY={validity + 1}/;UID={uid}",  # another UIDVALIDITY
        f"/Drafts/;UID={uid + 5}",  # no such message
        "/Nowhere/;UID=1",  # no such mailbox
        f"/Drafts/;UID={uid}/;SECTION=7",  # no such part
        f"/Drafts/;UID={uid}/;SECTION=FROB",  # no such section
        f"imap://b%40example.org@mail.example.org/INBOX/;UID={theirs}",  # another user's
        f"imap://{USER}@elsewhere.example/Drafts/;UID={uid}",  # another server
        f"/Drafts/;UID={uid};URLAUTH=anonymous:internal:0123456789abcdef",  # no URLAUTH here
        "Drafts;UID=1",  # not a message URL
    ]
    for url in bad:
        status = await c.no(
            b"APPEND Drafts " + literal(SIMPLE) + b' CATENATE (URL "' + url.encode() + b'")'
        )
        assert status == f'NO [BADURL "{url}"] Bad URL', status
    assert await c.ok("STATUS Drafts (MESSAGES)") == ["* STATUS Drafts (MESSAGES 1)"]
    assert await c.bad("APPEND Drafts CATENATE ()") == "BAD expected TEXT or URL"
    assert await c.bad('APPEND Drafts CATENATE (FILE "x")') == "BAD unknown catenate part FILE"
    assert await c.bad('APPEND Drafts CATENATE (TEXT "x")') == "BAD TEXT needs a literal"


async def test_toobig(tmp_path):
    async with make_server(tmp_path, limits={"max_message_size": 1000}) as server:
        await server.add_user(USER, PASSWORD)
        c = await Wire.connect(server.host, server.port("imap"))
        try:
            await c.login(USER, PASSWORD)
            _, uid = await stored(c, "INBOX", SIMPLE)
            urls = b" ".join(b'URL "/INBOX/;UID=%d"' % uid for _ in range(6))
            status = await c.no(b"APPEND INBOX CATENATE (" + urls + b")")
            assert status == "NO [TOOBIG] Message too big"
            await c.ok(b"APPEND INBOX CATENATE (" + urls[: len(urls) // 2] + b")")
        finally:
            await c.close()
