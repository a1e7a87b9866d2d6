"""`postfach import imap`: a real IMAP server on loopback (postfach itself) as the source."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.moving.support import PASSWORD, acli, contents, count_messages, fill, installation

from harness import make_server
from postfach.store import Store

SOURCE = "old@example.org"
TARGET = "new@example.org"
# 2,000 messages in five folders; "Deleted Items" has no special use at the
# source and lands in our Trash by its name, "Spam" (\\Junk) in our Spam.
FOLDERS = {
    "INBOX": 900,
    "Sent": 400,
    "Projects": 300,
    "Projects/2026": 250,
    "Deleted Items": 100,
    "Spam": 50,
}
# Where each source folder's mail must land.
LANDS = {"Deleted Items": "Trash"}


async def test_import_killed_halfway_resumes_to_every_message_once(tmp_path: Path) -> None:
    workdir = tmp_path / "target"
    workdir.mkdir()
    url = installation(workdir, TARGET)
    async with make_server(tmp_path / "source") as server:
        account = await server.add_user(SOURCE, PASSWORD)
        await fill(server.ctx.store, account.id, FOLDERS)
        expected = await contents(server.ctx.store, SOURCE, LANDS)
        assert sum(expected.values()) == sum(FOLDERS.values())
        args = (
            "import",
            "imap",
            TARGET,
            "--from",
            f"127.0.0.1:{server.port('imap')}",
            "--security",
            "none",
            "--user",
            SOURCE,
            "--password-stdin",
        )

        first = await acli(workdir, *args, stdin=PASSWORD + "\n")
        copied = 0
        async with asyncio.timeout(120):
            while first.returncode is None and copied < 300:
                await asyncio.sleep(0.02)
                copied = await count_messages(url, TARGET)
        assert first.returncode is None, (await first.communicate())[1].decode()
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert 0 < copied < 2000, "the import was to be killed halfway"

        second = await acli(workdir, *args, stdin=PASSWORD + "\n")
        out, err = await asyncio.wait_for(second.communicate(), 120)
        assert second.returncode == 0, err.decode()
        assert PASSWORD not in out.decode() + err.decode()
        assert "already there" in out.decode()

        third = await acli(workdir, *args, stdin=PASSWORD + "\n")
        out, err = await asyncio.wait_for(third.communicate(), 120)
        assert third.returncode == 0, err.decode()
        assert "imported 0 message(s)" in out.decode() and "2000 already there" in out.decode()

    target = await Store.connect(url)
    try:
        got = await contents(target, TARGET)
        assert got == expected  # every message once, byte-exact, flags and dates kept
        account = await target.accounts.get_account(TARGET)
        assert account is not None
        trash = await target.mailboxes.special_mailbox(account.id, "\\Trash")
        assert trash is not None and trash.name == "Trash"
    finally:
        await target.close()


async def test_wrong_password_is_one_line_and_unknown_account_too(tmp_path: Path) -> None:
    workdir = tmp_path / "target"
    workdir.mkdir()
    installation(workdir, TARGET)
    async with make_server(tmp_path / "source") as server:
        await server.add_user(SOURCE, PASSWORD)
        base = (
            "import",
            "imap",
            "--from",
            f"127.0.0.1:{server.port('imap')}",
            "--security",
            "none",
            "--user",
            SOURCE,
            "--password-stdin",
        )
        process = await acli(workdir, *base[:2], TARGET, *base[2:], stdin="wrong-pass\n")
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 1
        assert err.decode().startswith("postfach: ") and len(err.decode().splitlines()) == 1
        assert "wrong-pass" not in err.decode()
        process = await acli(
            workdir, *base[:2], "nobody@example.org", *base[2:], stdin=PASSWORD + "\n"
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 1
        assert err.decode() == "postfach: no account nobody@example.org\n"
