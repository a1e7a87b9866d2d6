"""Copies another IMAP server's mail into an account, and resumes where it stopped.

First a plan: every folder is EXAMINEd and listed (UID, flags, internal date,
size), and the UIDs the imports role (`store.imports`) says were copied at the
same UIDVALIDITY are left out. Then the copy, folder by folder, in batches:
bodies are fetched (the next batch while the current one is stored), stored in
one transaction, then their UIDs noted. A run killed between the two finds the
batch again on the next run: what the folder already holds with the same
content and date is not stored twice.
"""

from __future__ import annotations

import asyncio
import imaplib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from postfach.moving.folders import SKIPPED_USES, special_use_of, target_name
from postfach.moving.imap_source import ImapSource, SourceError, SourceFolder, SourceMessage
from postfach.moving.progress import Reporter
from postfach.moving.target import Item, Target, content_sha256, fingerprint
from postfach.store.records import Mailbox

__all__ = ["FolderPlan", "ImportResult", "import_imap", "plan", "source_key"]

T = TypeVar("T")

# A batch of bodies: one FETCH, one store transaction.
BATCH_MESSAGES = 100
BATCH_OCTETS = 8 * 1024 * 1024


@dataclass
class FolderPlan:
    folder: SourceFolder
    name: str | None  # ours, for an ordinary folder
    special_use: str | None
    uidvalidity: int
    todo: list[SourceMessage]
    already: int


@dataclass
class ImportResult:
    copied: int = 0
    octets: int = 0
    skipped: int = 0  # noted or found already
    folders: list[str] = field(default_factory=list)


def source_key(login: str, host: str, port: int) -> str:
    """What the imports role notes copied messages under; the CLI and the web's
    background imports use the same, so each resumes the other's work."""
    return f"imap://{login}@{host}:{port}"


async def _call(fn: Callable[..., T], *args: object) -> T:
    """A blocking imaplib call in a worker thread, its failures as SourceError."""
    try:
        return await asyncio.to_thread(fn, *args)
    except imaplib.IMAP4.error as exc:
        raise SourceError(f"the source server failed: {exc}") from None
    except OSError as exc:
        raise SourceError(f"the source server went away: {exc}") from None


async def plan(
    source: ImapSource, target: Target, source_key: str, only: Sequence[str] = ()
) -> list[FolderPlan]:
    """What is still to copy, folder by folder."""
    folders = await _call(source.folders)
    wanted = {name.casefold() for name in only}
    plans: list[FolderPlan] = []
    for folder in folders:
        if not folder.selectable:
            continue
        if wanted and folder.name.casefold() not in wanted:
            continue
        use = special_use_of(folder.name, folder.delimiter, folder.attributes)
        if use in SKIPPED_USES and not wanted:
            continue
        special = None if use in SKIPPED_USES else use
        name = target_name(folder.name, folder.delimiter)
        uidvalidity = await _call(source.select, folder)
        listing = await _call(source.listing)
        seen = await target.store.imports.seen(
            target.account.id, source_key, folder.name, uidvalidity
        )
        todo = [m for m in listing if m.uid not in seen]
        plans.append(FolderPlan(folder, name, special, uidvalidity, todo, len(listing) - len(todo)))
    return plans


def _batches(todo: Sequence[SourceMessage]) -> list[list[SourceMessage]]:
    batches: list[list[SourceMessage]] = []
    current: list[SourceMessage] = []
    octets = 0
    for message in todo:
        if current and (len(current) >= BATCH_MESSAGES or octets + message.size > BATCH_OCTETS):
            batches.append(current)
            current, octets = [], 0
        current.append(message)
        octets += message.size
    if current:
        batches.append(current)
    return batches


async def import_imap(
    source: ImapSource,
    target: Target,
    source_key: str,
    reporter: Reporter,
    only: Sequence[str] = (),
) -> ImportResult:
    """Copies what `plan` finds missing; returns the counts."""
    plans = await plan(source, target, source_key, only)
    result = ImportResult(skipped=sum(p.already for p in plans))
    reporter.start(sum(len(p.todo) for p in plans), sum(m.size for p in plans for m in p.todo))
    for folder_plan in plans:
        mailbox = await target.folder(folder_plan.name, folder_plan.special_use)
        result.folders.append(f"{folder_plan.folder.name} -> {mailbox.name}")
        if not folder_plan.todo:
            continue
        reporter.folder(folder_plan.folder.name)
        await _copy_folder(source, target, source_key, folder_plan, mailbox, reporter, result)
    return result


async def _copy_folder(
    source: ImapSource,
    target: Target,
    source_key: str,
    folder_plan: FolderPlan,
    mailbox: Mailbox,
    reporter: Reporter,
    result: ImportResult,
) -> None:
    uidvalidity = await _call(source.select, folder_plan.folder)
    if uidvalidity != folder_plan.uidvalidity:
        raise SourceError(f"{folder_plan.folder.name} changed its UIDVALIDITY meanwhile; run again")
    present = await target.present(mailbox)
    batches = _batches(folder_plan.todo)

    def fetch(batch: list[SourceMessage]) -> Awaitable[dict[int, bytes]]:
        return _call(source.bodies, [m.uid for m in batch])

    pending = asyncio.ensure_future(fetch(batches[0]))
    for index, batch in enumerate(batches):
        bodies = await pending
        if index + 1 < len(batches):  # the next FETCH runs while this batch is stored
            pending = asyncio.ensure_future(fetch(batches[index + 1]))
        await _store_batch(target, source_key, folder_plan, mailbox, batch, bodies, present, result)
        reporter.advance(len(batch), sum(m.size for m in batch))


async def _store_batch(
    target: Target,
    source_key: str,
    folder_plan: FolderPlan,
    mailbox: Mailbox,
    batch: list[SourceMessage],
    bodies: dict[int, bytes],
    present: Counter[tuple[str, int]],
    result: ImportResult,
) -> None:
    items: list[Item] = []
    noted: list[int] = []
    for message in batch:
        raw = bodies.get(message.uid)
        if raw is None:
            continue  # expunged on the source since the plan
        key = fingerprint(content_sha256(raw), message.internaldate)
        noted.append(message.uid)
        if present[key] > 0:  # stored by a run that died before noting it
            present[key] -= 1
            result.skipped += 1
            continue
        items.append(Item(raw, message.flags, message.internaldate))
    if items:
        await target.add(mailbox, items)
        result.copied += len(items)
        result.octets += sum(len(item.raw) for item in items)
    await target.store.imports.remember(
        target.account.id, source_key, folder_plan.folder.name, folder_plan.uidvalidity, noted
    )
