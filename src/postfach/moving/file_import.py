"""Imports Maildir and mbox files into an account, and exports an account to them.

Import is resumable like the IMAP import, by content: what a folder already
holds with the same bytes and internal date is not stored again, so running
the same import twice (or after it was killed) copies only what is missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from postfach.moving.files import FileFolder, write_maildir, write_mbox
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
    write = write_maildir if kind == "maildir" else write_mbox
    mailboxes = await store.mailboxes.list_mailboxes(account.id)
    statuses = [await store.mailboxes.mailbox_status(m.id) for m in mailboxes]
    reporter.start(sum(s.messages for s in statuses), sum(s.size for s in statuses))
    result = ExportResult(folders=len(mailboxes))
    for mailbox in mailboxes:
        reporter.folder(mailbox.name)
        listing = await store.mail.message_listing(mailbox.id)
        items: list[Item] = []
        for start in range(0, len(listing), BATCH):
            chunk = listing[start : start + BATCH]
            raws = await store.mail.read_raws(chunk)
            items.extend(Item(raws[m.id], m.flags, m.internaldate) for m in chunk)
            reporter.advance(len(chunk), sum(m.size for m in chunk))
        await asyncio.to_thread(write, root, mailbox.name, items)
        result.messages += len(items)
        result.octets += sum(len(item.raw) for item in items)
    return result
