"""FETCH answers from what the store kept at delivery; the blob is read only for bytes."""

from __future__ import annotations

from tests.imap.messages import MULTIPART, SIMPLE, literal

UUENCODED = (
    b"From: u@example.net\r\nSubject: old\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 a\r\n#86)C\r\n`\r\nend\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"U3ViamVjdDogaW5uZXINCg0KaGkNCg==\r\n"
    b"--b--\r\n"
)


def count_blob_reads(monkeypatch, store) -> list[str]:
    reads: list[str] = []
    original = store.mail.read_blob

    async def read_blob(sha256: str) -> bytes:
        reads.append(sha256)
        return await original(sha256)

    monkeypatch.setattr(store.mail, "read_blob", read_blob)
    return reads


async def test_metadata_items_need_no_blob(imap, wire, monkeypatch):
    c = await wire()
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(MULTIPART))
    await c.ok("SELECT INBOX")
    reads = count_blob_reads(monkeypatch, imap.ctx.store)
    lines = await c.ok(
        "FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY MODSEQ)"
    )
    assert lines[0].startswith("* OK [HIGHESTMODSEQ ")  # MODSEQ enabled CONDSTORE
    assert len(lines) == 3 and all("BODYSTRUCTURE (" in x for x in lines[1:])
    await c.ok("FETCH 1:* ALL")
    await c.ok("FETCH 1:* FULL")
    await c.ok("FETCH 2 BINARY.SIZE[1]")  # quoted-printable: must decode
    assert len(reads) == 1
    await c.ok("FETCH 1 BINARY.SIZE[1]")  # 7bit: the size is known
    assert len(reads) == 1
    await c.ok("FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] RFC822.HEADER)")
    assert len(reads) == 2  # one read per message, however many sections


async def test_search_sort_thread_need_no_blob(imap, wire, monkeypatch):
    c = await wire()
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok(b"APPEND INBOX " + literal(MULTIPART))
    await c.ok("SELECT INBOX")
    reads = count_blob_reads(monkeypatch, imap.ctx.store)
    assert await c.ok("SEARCH HEADER Subject hello") == ["* SEARCH 1"]
    assert await c.ok('SEARCH HEADER FROM "bob@"') == ["* SEARCH 2"]
    assert await c.ok("SEARCH SENTBEFORE 3-Jan-2024 LARGER 10") == ["* SEARCH 1"]
    assert await c.ok("SORT (DATE) UTF-8 ALL") == ["* SORT 1 2"]
    assert await c.ok("SORT (DISPLAYFROM) UTF-8 ALL") == ["* SORT 1 2"]
    assert await c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL") == ["* THREAD (1)(2)"]
    assert reads == []
    assert await c.ok('SEARCH HEADER Message-ID "multi@"') == ["* SEARCH 2"]
    assert len(reads) == 1  # other fields from the message the header text leaves


async def test_unknown_transfer_encoding_and_encoded_rfc822(wire):
    c = await wire()
    await c.ok(b"APPEND INBOX " + literal(UUENCODED))
    await c.ok("EXAMINE INBOX")
    assert await c.no("FETCH 1 BINARY.PEEK[1]") == (
        "NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding"
    )
    assert await c.no("FETCH 1 BINARY.SIZE[1]") == (
        "NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding"
    )
    [line] = await c.ok("FETCH 1 BODYSTRUCTURE")
    # a message/rfc822 part in base64 has no structure to show: a basic part (RFC 9051 §7.5.2)
    assert '("message" "rfc822" NIL NIL NIL "BASE64" 32 NIL NIL NIL NIL) "mixed"' in line
    assert await c.ok("FETCH 1 BINARY.PEEK[2]") == [
        "* 1 FETCH (BINARY[2] ~{22}\r\nSubject: inner\r\n\r\nhi\r\n)"
    ]
    assert await c.ok("FETCH 1 BODY.PEEK[2.HEADER]") == ["* 1 FETCH (BODY[2.HEADER] {0}\r\n)"]


async def test_delivered_prefix_is_part_of_the_message(imap, wire):
    await imap.ctx.delivery.deliver(SIMPLE, "alice@example.net", ["a@example.org"])
    c = await wire(select="INBOX")
    [line] = await c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])")
    size = int(line.split("RFC822.SIZE ")[1].split()[0])
    body = line.split("\r\n", 1)[1][:-1]
    assert len(body) == size > len(SIMPLE)
    assert body.startswith("Return-Path: <alice@example.net>\r\n")
    assert body.endswith(SIMPLE.decode())
    [header] = await c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (Delivered-To Subject)]")
    assert header.endswith("Delivered-To: a@example.org\r\nSubject: Hello there\r\n\r\n)")
    [text] = await c.ok("FETCH 1 BODY.PEEK[TEXT]")
    assert text == "* 1 FETCH (BODY[TEXT] {22}\r\nJust a line of text.\r\n)"
