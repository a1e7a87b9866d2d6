"""`postfach backup` and `postfach restore`: the whole store, copied while it runs.

A summary goes with every backup: accounts, folders, messages, octets and a
SHA-256 over every message's place (account, folder, UID), flags, date and
content hash. On SQLite it is kept inside the backup (its `meta` table). A
restore checks the file (integrity_check), re-hashes every blob against its
name, sums the restored store again and refuses a mismatch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from postfach.store import Store
from postfach.store import backup as files
from postfach.store.api import StoreApi, StoreError

__all__ = ["Summary", "backup", "restore", "summarize"]

BLOB_BATCH = 200


@dataclass(frozen=True)
class Summary:
    accounts: int
    folders: int
    messages: int
    octets: int
    checksum: str

    def line(self) -> str:
        return (
            f"{self.accounts} account(s), {self.folders} folder(s), {self.messages} message(s), "
            f"{self.octets} octets, checksum sha256:{self.checksum}"
        )


async def summarize(store: StoreApi, *, verify_blobs: bool = False) -> Summary:
    """Counts and a checksum of the store's mail; `verify_blobs` re-hashes every blob."""
    digest = hashlib.sha256()
    folders = messages = octets = 0
    accounts = sorted(await store.accounts.list_accounts(), key=lambda a: a.address)
    for account in accounts:
        mailboxes = sorted(await store.mailboxes.list_mailboxes(account.id), key=lambda m: m.name)
        folders += len(mailboxes)
        for mailbox in mailboxes:
            listing = await store.mail.message_listing(mailbox.id)
            for m in listing:
                prefix = hashlib.sha256(m.prefix).hexdigest()
                flags = " ".join(sorted(m.flags))
                digest.update(
                    f"{account.address}\t{mailbox.name}\t{m.uid}\t{flags}\t"
                    f"{m.internaldate!r}\t{m.blob_sha256}\t{prefix}\n".encode()
                )
                octets += m.size
            messages += len(listing)
            if verify_blobs:
                await _verify(store, sorted({m.blob_sha256 for m in listing}))
    return Summary(len(accounts), folders, messages, octets, digest.hexdigest())


async def _verify(store: StoreApi, shas: list[str]) -> None:
    for start in range(0, len(shas), BLOB_BATCH):
        chunk = shas[start : start + BLOB_BATCH]
        blobs = await store.mail.read_blobs(chunk)
        for sha in chunk:
            data = blobs.get(sha)
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                raise StoreError(f"message content {sha[:12]}… is missing or damaged")


async def _summary_of_file(path: Path, *, verify_blobs: bool) -> Summary:
    store = await Store.connect(f"sqlite:///{path}", migrate=False)
    try:
        return await summarize(store, verify_blobs=verify_blobs)
    finally:
        await store.close()


async def backup(url: str, destination: Path) -> tuple[str, Summary | None]:
    """Copies the store at `url` to `destination`; (how, summary of the copy)."""
    database = files.sqlite_path(url)
    if database is None:
        await asyncio.to_thread(files.pg_dump, url, destination)
        return "pg_dump", None
    if not database.exists():
        raise StoreError(f"no database at {database}")
    await asyncio.to_thread(files.backup_sqlite, database, destination)
    summary = await _summary_of_file(destination, verify_blobs=False)
    await asyncio.to_thread(files.note, destination, json.dumps(asdict(summary)))
    return "sqlite backup API", summary


async def restore(source: Path, url: str) -> Summary:
    """Checks the backup, writes it over the store at `url`, checks the result."""
    with source.open("rb") as handle:
        magic = handle.read(16)
    database = files.sqlite_path(url)
    if database is None:
        if magic[:5] != b"PGDMP":
            raise StoreError(f"{source} is not a pg_dump archive (the store is PostgreSQL)")
        await asyncio.to_thread(files.pg_restore, source, url)
        store = await Store.connect(url)
        try:
            return await summarize(store, verify_blobs=True)
        finally:
            await store.close()
    if magic != files.SQLITE_MAGIC:
        raise StoreError(f"{source} is not a postfach SQLite backup")
    expected = await _checked(source)
    await asyncio.to_thread(files.restore_sqlite, source, database)
    problems = await asyncio.to_thread(files.integrity_check, database)
    if problems != "ok":
        raise StoreError(f"the restored database fails integrity_check: {problems}")
    await asyncio.to_thread(files.forget_note, database)
    restored = await _summary_of_file(database, verify_blobs=False)
    if expected is not None and restored != expected:
        raise StoreError(f"the restored store differs from the backup: {restored.line()}")
    return restored


async def _checked(source: Path) -> Summary | None:
    problems = await asyncio.to_thread(files.integrity_check, source)
    if problems != "ok":
        raise StoreError(f"{source} fails integrity_check: {problems}")
    summary = await _summary_of_file(source, verify_blobs=True)
    note = await asyncio.to_thread(files.noted, source)
    if note is not None:
        expected = Summary(**json.loads(note))
        if summary != expected:
            raise StoreError(f"{source} does not match its own summary: {summary.line()}")
        return expected
    return summary
