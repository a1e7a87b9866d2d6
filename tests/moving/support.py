"""Helpers of the moving tests: a target installation made by `postfach init`,
the CLI run as a process, mail made fast through the store, contents compared."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from postfach.store import NewMessage, Store
from postfach.store.api import StoreApi
from postfach.store.blobs import prepare_blob
from postfach.store.records import AccountId
from support.cli import postfach_ok as ok
from support.cli import run_postfach as cli

__all__ = [
    "BASE_DATE", "PASSWORD", "Contents", "acli", "cli", "contents", "count_messages", "fill",
    "installation", "message", "ok",
]  # fmt: skip

PASSWORD = "import-secret-9"
BASE_DATE = 1_700_000_000

# What a folder holds, order aside: (folder, bytes, flags, whole-second date).
Contents = Counter[tuple[str, bytes, frozenset[str], int]]


async def acli(cwd: Path, *args: str, stdin: str = "") -> asyncio.subprocess.Process:
    """The CLI as a process the test's event loop (serving the source) keeps running beside."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "postfach",
        *args,
        cwd=cwd,
        env={**os.environ, "POSTFACH_CONFIG": ""},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(stdin.encode())
    await process.stdin.drain()
    process.stdin.close()
    return process


def installation(cwd: Path, *addresses: str) -> str:
    """`postfach init` in cwd with accounts; returns the storage URL."""
    ok(cwd, "init", "--data-dir", "D", "--domain", "example.org")
    for address in addresses:
        ok(cwd, "user", "add", address, "--password-stdin", stdin=PASSWORD + "\n")
    return f"sqlite:///{cwd / 'D' / 'postfach.db'}"


def message(folder: str, number: int, size: int = 1500) -> bytes:
    body = (f"Line {number} of {folder}.\r\n" * (size // 24 + 1))[:size]
    return (
        f"From: sender{number % 7}@example.net\r\nTo: someone@example.org\r\n"
        f"Subject: {folder} message {number}\r\nMessage-ID: <{number}.{folder}@example.net>\r\n"
        f"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
        f"From here on a line starts with From,\r\n>From a quoted one too.\r\n{body}\r\n"
    ).encode()


FLAG_SETS = (
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\Seen", "\\Answered"}),
    frozenset({"\\Flagged", "$Label1"}),
    frozenset({"\\Seen", "\\Draft"}),
)


async def fill(store: StoreApi, account_id: AccountId, folders: dict[str, int]) -> None:
    """Makes `count` messages in each folder (created when missing), 200 per transaction."""
    for name, count in folders.items():
        mailbox = await store.mailboxes.get_mailbox(account_id, name)
        if mailbox is None:
            mailbox = await store.mailboxes.create_mailbox(account_id, name)
        batch = [
            NewMessage(
                mailbox.id,
                prepare_blob(message(name, n, 600 + (n * 37) % 3000)),
                b"",
                FLAG_SETS[n % len(FLAG_SETS)],
                float(BASE_DATE + n * 61),
            )
            for n in range(count)
        ]
        for start in range(0, len(batch), 200):
            await store.mail.add_messages(batch[start : start + 200])


async def contents(store: StoreApi, address: str, rename: dict[str, str] | None = None) -> Contents:
    account = await store.accounts.get_account(address)
    assert account is not None
    found: Contents = Counter()
    for mailbox in await store.mailboxes.list_mailboxes(account.id):
        listing = await store.mail.message_listing(mailbox.id)
        raws = await store.mail.read_raws(listing)
        name = (rename or {}).get(mailbox.name, mailbox.name)
        for m in listing:
            found[(name, raws[m.id], m.flags, int(m.internaldate))] += 1
    return found


async def count_messages(url: str, address: str) -> int:
    store = await Store.connect(url, migrate=False)
    try:
        account = await store.accounts.get_account(address)
        assert account is not None
        total = 0
        for mailbox in await store.mailboxes.list_mailboxes(account.id):
            total += (await store.mailboxes.mailbox_status(mailbox.id)).messages
        return total
    finally:
        await store.close()
