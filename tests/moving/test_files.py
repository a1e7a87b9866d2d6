"""`postfach export` and `postfach import mbox|maildir`: round trips, and files as
Dovecot, mutt and Thunderbird write them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.moving.support import contents, fill, installation, ok

from postfach.moving.files import mbox_folders, write_mbox
from postfach.moving.target import Item
from postfach.store import Store

FOLDERS = {"INBOX": 450, "Sent": 40, "Projects": 30, "Projects/2026": 25, "Trash": 10, "Spam": 5}


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
async def test_export_then_import_into_a_fresh_account_gives_identical_contents(
    tmp_path: Path, kind: str
) -> None:
    url = installation(tmp_path, "a@example.org", "b@example.org")
    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account("a@example.org")
        assert account is not None
        await fill(store, account.id, FOLDERS)
    finally:
        await store.close()

    out = ok(tmp_path, "export", "a@example.org", "--to", "out", "--format", kind)
    assert "exported 560 message(s)" in out
    out = ok(tmp_path, "import", kind, "b@example.org", "out")
    assert "imported 560 message(s)" in out
    again = ok(tmp_path, "import", kind, "b@example.org", "out")
    assert "imported 0 message(s)" in again and "560 already there" in again

    store = await Store.connect(url)
    try:
        original = await contents(store, "a@example.org")
        assert await contents(store, "b@example.org") == original
    finally:
        await store.close()


async def test_dovecot_maildir_and_mutt_mbox_are_read_with_their_flags(tmp_path: Path) -> None:
    url = installation(tmp_path, "a@example.org", "b@example.org")
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp", ".Lists.Python/cur", ".Lists.Python/new", ".Sent/cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    raw = b"Subject: one\n\nbody\n"
    (maildir / "cur" / "1700000000.M1P1.host,S=19:2,FRS").write_bytes(raw)
    (maildir / "new" / "1700000100.M2P1.host").write_bytes(b"Subject: two\n\nnew\n")
    (maildir / ".Lists.Python" / "dovecot-keywords").write_text("0 $Work\n1 Junk\n")
    (maildir / ".Lists.Python" / "cur" / "1700000200.M3P1.host:2,Sb").write_bytes(raw)
    (maildir / ".Sent" / "cur" / "1700000300.M4P1.host:2,S").write_bytes(raw)
    for path in maildir.glob("**/*.host*"):
        stamp = int(path.name.split(".")[0])
        os.utime(path, (stamp, stamp))
    ok(tmp_path, "import", "maildir", "a@example.org", str(maildir))

    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(
        b"From someone@example.net Tue Nov 14 22:13:20 2023\n"
        b"Subject: read\nStatus: RO\nX-Status: AF\n\n>From the start\n>>From two\n\n"
        b"From someone@example.net Tue Nov  7 01:02:03 2023\n"
        b"Subject: unread\n\nbody\n"
    )
    ok(tmp_path, "import", "mbox", "b@example.org", str(mbox))

    store = await Store.connect(url)
    try:
        got = await contents(store, "a@example.org")
        assert got[("INBOX", raw, frozenset({"\\Flagged", "\\Answered", "\\Seen"}), 1700000000)]
        assert got[("Lists/Python", raw, frozenset({"\\Seen", "Junk"}), 1700000200)] == 1
        assert got[("Sent", raw, frozenset({"\\Seen"}), 1700000300)] == 1
        assert got[("INBOX", b"Subject: two\n\nnew\n", frozenset(), 1700000100)] == 1
        assert sum(got.values()) == 4
        got = await contents(store, "b@example.org")
        assert (
            got[
                (
                    "INBOX",
                    b"Subject: read\n\nFrom the start\n>From two\n",
                    frozenset({"\\Seen", "\\Answered", "\\Flagged"}),
                    1700000000,
                )
            ]
            == 1
        )
        assert got[("INBOX", b"Subject: unread\n\nbody\n", frozenset(), 1699318923)] == 1
    finally:
        await store.close()


def test_mbox_keeps_awkward_messages_byte_for_byte(tmp_path: Path) -> None:
    awkward = [
        b"Subject: a\r\n\r\nFrom the first line\r\n>From quoted\r\n>>From twice\r\n",
        b"Subject: lone CR\n\nthis\rFrom is no line start\n",
        b"Subject: LF only\nStatus-Like: kept\n\nFrom \n\n\nblank lines above\n",
        b"Subject: only a header\r\n",
    ]
    items = [
        Item(raw, frozenset({"\\Seen", "$Work"} if n % 2 else set()), 1_700_000_000.0 + n)
        for n, raw in enumerate(awkward)
    ]
    write_mbox(tmp_path, "INBOX", items[:2])
    write_mbox(tmp_path, "INBOX", items[2:], append=True)
    [folder] = mbox_folders(tmp_path / "INBOX")
    assert folder.count() == 4
    assert list(folder.messages()) == items
