"""FETCH of tricky messages (tests/message/data/*.eml) pinned to known-good output.

Every message is stored twice: appended (no prefix) and added with a
per-recipient trace prefix, as delivery stores it. The expected responses in
data/fetch_corpus.json were recorded from the earlier re-parsing FETCH and
checked by hand; set POSTFACH_REGEN_GOLDEN=1 to rewrite them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.imap.imapwire import Wire

from harness import TestServer
from postfach.store import NewMessage
from postfach.store.blobs import prepare_blob

CORPUS = sorted((Path(__file__).parents[1] / "message" / "data").glob("*.eml"))
GOLDEN = Path(__file__).parent / "data" / "fetch_corpus.json"
PREFIX = b"Return-Path: <s@example.net>\r\nDelivered-To: a@example.org\r\n"
ITEMS = (
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "RFC822.SIZE",
    "BODY.PEEK[]",
    "BODY.PEEK[]<5.20>",
    "BODY.PEEK[HEADER]",
    "BODY.PEEK[TEXT]",
    "BODY.PEEK[HEADER.FIELDS (From Subject X-Bin\xe4r)]".replace("\xe4", "a"),
    "BODY.PEEK[HEADER.FIELDS.NOT (Subject Received)]",
    "RFC822.HEADER",
    "RFC822.TEXT",
    "BODY.PEEK[1]",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[1.1]",
    "BODY.PEEK[1.2]",
    "BODY.PEEK[2]",
    "BODY.PEEK[2.MIME]",
    "BODY.PEEK[2.HEADER]",
    "BODY.PEEK[2.TEXT]",
    "BODY.PEEK[2.HEADER.FIELDS (Subject)]",
    "BODY.PEEK[2.1]",
    "BODY.PEEK[2.1.MIME]",
    "BODY.PEEK[2.2]",
    "BODY.PEEK[3]",
    "BODY.PEEK[9]",
    "BINARY.PEEK[]",
    "BINARY.PEEK[1]",
    "BINARY.PEEK[2]",
    "BINARY.PEEK[1.1]",
    "BINARY.SIZE[1]",
    "BINARY.SIZE[2]",
    "BINARY.PEEK[2]<2.3>",
)


async def _transcript(server: TestServer, wire: Wire, other: Wire) -> dict[str, list[str]]:
    store = server.ctx.store
    account = await store.accounts.get_account("a@example.org")
    assert account is not None
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    batch = []
    for path in CORPUS:
        blob = prepare_blob(path.read_bytes())
        batch.append(NewMessage(inbox.id, blob, internaldate=1704100000.0))
        batch.append(NewMessage(inbox.id, blob, PREFIX, internaldate=1704100000.0))
    await store.mail.add_messages(batch)
    await other.ok("SELECT INBOX")  # takes \\Recent, which is not what this test is about
    await wire.ok("SELECT INBOX")
    out: dict[str, list[str]] = {}
    for n, path in enumerate(CORPUS):
        for variant, seq in (("plain", 2 * n + 1), ("prefix", 2 * n + 2)):
            lines = []
            for item in ITEMS:
                untagged, status = await wire.cmd(f"FETCH {seq} {item}")
                lines.extend(untagged)
                if not status.startswith("OK"):
                    lines.append(f"{item}: {status}")
            out[f"{path.stem}/{variant}"] = lines
    return out


async def test_corpus_fetch_matches_golden(imap, wire):
    got = await _transcript(imap, await wire(), await wire())
    if os.environ.get("POSTFACH_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=True) + "\n")
        pytest.skip("golden file rewritten")
    expected = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(expected)
    for key, lines in expected.items():
        assert got[key] == lines, key
