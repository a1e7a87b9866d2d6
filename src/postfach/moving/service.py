"""Background IMAP imports: the ones the web settings page starts.

A job is a row of `import_jobs` (store.imports) with the source's password
sealed by the mailing vault (mailing/vault.py, the key in the data dir). The
service of the primary process takes queued jobs one at a time, runs the same
import as `postfach import imap` (same source key, so the CLI and the web
resume each other's work) and writes progress to the row every second. A
server stopped mid-import queues the job again at start and it resumes. The
password is dropped from the row when the job ends, done or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from pathlib import Path

from postfach.mailing.vault import Vault, VaultError
from postfach.moving.imap_import import import_imap, source_key
from postfach.moving.imap_source import ImapSource, SourceError
from postfach.moving.progress import Quiet
from postfach.moving.target import ImportFailed, Target
from postfach.store.api import StoreApi, StoreError
from postfach.store.records import AccountId, ImportJob

__all__ = ["ImportService", "queue_import"]

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between looks for a queued job
PROGRESS_EVERY = 1.0


async def queue_import(
    store: StoreApi,
    data_dir: str | Path,
    account_id: AccountId,
    host: str,
    port: int,
    security: str,
    login: str,
    password: str,
) -> int:
    sealed = Vault.for_data_dir(data_dir).encrypt(password)
    return await store.imports.add_job(account_id, host, port, security, login, sealed)


async def _public_only(host: str, port: int) -> None:
    """Refuses a host that resolves to a loopback, private or link-local address:
    a user's form must not reach into the server's own network."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SourceError(f"cannot find {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise SourceError(f"{host} is a private address ({address}); not allowed here")


class _Counting(Quiet):
    """Counts what is copied; the service writes the counts to the job's row."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def start(self, messages: int, octets: int) -> None:
        self.total = messages


class ImportService:
    """Runs queued import jobs, one at a time, in the primary process."""

    def __init__(
        self,
        store: StoreApi,
        data_dir: str | Path,
        *,
        private_hosts: bool = False,
        verify_tls: bool = True,
    ) -> None:
        self.store = store
        self.vault = Vault.for_data_dir(data_dir)
        self.private_hosts = private_hosts
        self.verify_tls = verify_tls
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        requeued = await self.store.imports.requeue_running()
        if requeued:
            log.info("imports: %d interrupted import(s) will resume", requeued)
        self._task = asyncio.create_task(self._loop(), name="imports")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                job = await self.store.imports.next_job()
            except StoreError as exc:
                log.warning("imports: cannot read the job list: %s", exc)
                job = None
            if job is None:
                await asyncio.sleep(POLL)
                continue
            await self._run(job)

    async def _run(self, job: ImportJob) -> None:
        counts = _Counting()
        try:
            if not self.private_hosts:
                await _public_only(job.host, job.port)
            password = self.vault.decrypt(job.password_enc)
            account = await self.store.accounts.get_account_by_id(job.account_id)
            if account is None:
                raise ImportFailed("the account is gone")
            source = ImapSource(job.host, job.port, job.security, job.login, password,
                                verify=self.verify_tls)  # fmt: skip
            await asyncio.to_thread(source.connect)
            try:
                work = asyncio.create_task(
                    import_imap(source, Target(self.store, account),
                                source_key(job.login, job.host, job.port), counts)
                )  # fmt: skip
                while not work.done():
                    await asyncio.wait([work], timeout=PROGRESS_EVERY)
                    await self._progress(job.id, counts)
                result = work.result()
            finally:
                await asyncio.to_thread(source.close)
        except asyncio.CancelledError:
            raise  # the server stops: the job stays "running" and resumes at start
        except (SourceError, ImportFailed, StoreError, VaultError, OSError) as exc:
            log.warning("imports: job %d failed: %s", job.id, exc)
            await self.store.imports.update_job(
                job.id, state="failed", error=str(exc)[:500], password_enc=""
            )
            return
        await self.store.imports.update_job(
            job.id, state="done", password_enc="", messages_total=counts.total,
            messages_done=counts.messages, octets_done=counts.octets, error="",
        )  # fmt: skip
        log.info("imports: job %d done, %d message(s) copied", job.id, result.copied)

    async def _progress(self, job_id: int, counts: _Counting) -> None:
        await self.store.imports.update_job(
            job_id, messages_total=counts.total, messages_done=counts.messages,
            octets_done=counts.octets,
        )  # fmt: skip
