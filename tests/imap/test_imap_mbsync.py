"""mbsync (isync) syncs a 1,000-message mailbox to a local Maildir and back.

Skipped when `mbsync` is not installed (Debian package `isync`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from tests.imap.conftest import PASSWORD, USER
from tests.imap.messages import SIMPLE

from postfach.store import NewMessage
from postfach.store.blobs import prepare_blob

pytestmark = pytest.mark.skipif(
    shutil.which("mbsync") is None, reason="mbsync (isync) not installed"
)

COUNT = 1000


def config(tmp_path: Path, port: int) -> Path:
    maildir = tmp_path / "mail"
    maildir.mkdir()
    path = tmp_path / "mbsyncrc"
    path.write_text(f"""\
IMAPAccount test
Host 127.0.0.1
Port {port}
User {USER}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX Sent
Create Both
Expunge Both
SyncState *
Sync All
""")
    return path


async def mbsync(rc: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "mbsync",
        "-c",
        str(rc),
        "-a",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode(errors="replace")


def local_messages(folder: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).iterdir())


async def test_mbsync_round_trip(imap, tmp_path):
    store = imap.ctx.store
    account = await store.accounts.get_account(USER)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    batch = [
        NewMessage(inbox.id, prepare_blob(SIMPLE.replace(b"Hello there", b"Message %d" % n)))
        for n in range(COUNT)
    ]
    await store.mail.add_messages(batch)
    rc = config(tmp_path, imap.port("imap"))
    await mbsync(rc)
    files = local_messages(tmp_path / "mail" / "INBOX")
    assert len(files) == COUNT

    # local changes: mark 100 as seen and flagged, delete 50, add one to Sent
    for path in files[:100]:
        os.rename(path, path.parent.parent / "cur" / (path.name.split(":2,")[0] + ":2,FS"))
    for path in files[100:150]:
        path.unlink()
    sent = tmp_path / "mail" / "Sent"
    (sent / "cur").mkdir(parents=True, exist_ok=True)
    (sent / "cur" / "1700000000.1.local:2,S").write_bytes(SIMPLE.replace(b"\r\n", b"\n"))
    await mbsync(rc)

    index = await store.mail.message_index(inbox.id)
    assert len(index) == COUNT - 50
    assert sum(1 for m in index if {"\\Seen", "\\Flagged"} <= m.flags) == 100
    sent_box = await store.mailboxes.get_mailbox(account.id, "Sent")
    assert len(await store.mail.message_index(sent_box.id)) == 1

    # a second run changes nothing and duplicates nothing
    await mbsync(rc)
    assert len(await store.mail.message_index(inbox.id)) == COUNT - 50
    assert len(local_messages(tmp_path / "mail" / "INBOX")) == COUNT - 50
    assert len(local_messages(sent)) == 1

    # server-side change comes back: flag on the server, then sync
    await store.mail.store_flags(inbox.id, [index[-1].uid], "add", frozenset({"\\Answered"}))
    await mbsync(rc)
    assert (
        sum(1 for p in local_messages(tmp_path / "mail" / "INBOX") if "R" in p.name.split(":2,")[1])
        == 1
    )
