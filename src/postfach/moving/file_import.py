"""Imports Maildir and mbox files into an account, and exports an account to them.

Import is resumable like the IMAP import, by content: what a folder already
holds with the same bytes and internal date is not stored again, so running
the same import twice (or after it was killed) copies only what is missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from postfach.moving.files import FileFolder, maildir_keywords, write_maildir, write_mbox
from postfach.moving.progress import Reporter
from postfach.moving.target import Item, Target, content_sha256, fingerprint
from postfach.store.api import StoreApi
from postfach.store.records import Account, Mailbox

__all__ = ["ExportResult", "FileImportResult", "export_account", "import_files"]

BATCH = 200


@dataclass
class FileImportResult:
    copied: int = 0
    octets: int = 0
    skipped: int = 0
    folders: int = 0


async def import_files(
    target: Target, folders: list[FileFolder], reporter: Reporter
) -> FileImportResult:
    counts = [await asyncio.to_thread(folder.count) for folder in folders]
    octets = [folder.octets for folder in folders]
    reporter.start(sum(counts), sum(octets))
    result = FileImportResult(folders=len(folders))
    for folder in folders:
        reporter.folder(folder.name)
        mailbox = await target.folder(folder.name, folder.special_use)
        present = await target.present(mailbox)
        batch: list[Item] = []
        for item in folder.messages():
            key = fingerprint(content_sha256(item.raw), item.internaldate)
            if present[key] > 0:
                present[key] -= 1
                result.skipped += 1
                reporter.advance(1, len(item.raw))
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                await _flush(target, mailbox, batch, result, reporter)
        await _flush(target, mailbox, batch, result, reporter)
    return result


async def _flush(
    target: Target,
    mailbox: Mailbox,
    batch: list[Item],
    result: FileImportResult,
    reporter: Reporter,
) -> None:
    if not batch:
        return
    await target.add(mailbox, batch)
    size = sum(len(item.raw) for item in batch)
    result.copied += len(batch)
    result.octets += size
    reporter.advance(len(batch), size)
    batch.clear()


@dataclass
class ExportResult:
    messages: int = 0
    octets: int = 0
    folders: int = 0


async def export_account(
    store: StoreApi, account: Account, root: Path, kind: str, reporter: Reporter
) -> ExportResult:
    """Every folder of the account into `root` as Maildir++ or mbox files."""
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    mailboxes = await store.mailboxes.list_mailboxes(account.id)
    statuses = [await store.mailboxes.mailbox_status(m.id) for m in mailboxes]
    reporter.start(sum(s.messages for s in statuses), sum(s.size for s in statuses))
    result = ExportResult(folders=len(mailboxes))
    for mailbox in mailboxes:
        reporter.folder(mailbox.name)
        listing = await store.mail.message_listing(mailbox.id)
        keywords = maildir_keywords(m.flags for m in listing)
        if not listing and kind == "mbox":
            await asyncio.to_thread(write_mbox, root, mailbox.name, [])
        # A batch at a time: a folder of any size is never all in memory.
        for start in range(0, len(listing), BATCH):
            chunk = listing[start : start + BATCH]
            raws = await store.mail.read_raws(chunk)
            items = [Item(raws[m.id], m.flags, m.internaldate) for m in chunk]
            if kind == "maildir":
                await asyncio.to_thread(write_maildir, root, mailbox.name, items, keywords, start)
            else:
                await asyncio.to_thread(write_mbox, root, mailbox.name, items, start > 0)
            reporter.advance(len(chunk), sum(m.size for m in chunk))
            result.messages += len(items)
            result.octets += sum(len(item.raw) for item in items)
        if not listing and kind == "maildir":
            await asyncio.to_thread(write_maildir, root, mailbox.name, [], keywords)
    return result
