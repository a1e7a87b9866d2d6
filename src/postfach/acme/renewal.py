"""Which certificates postfach wants, when each is due, and the job that orders them.

One certificate for the host name (and the public name), and one per mail domain
for `autoconfig.DOMAIN`, `autodiscover.DOMAIN` (Outlook asks there before it
follows the SRV record) and `mta-sts.DOMAIN`: a domain whose DNS is not ready yet
does not hold up the others. A certificate is due when missing, when it no longer
covers its names, or with a third of its lifetime (at most 30 days) left.

`CertRenewal` runs in the primary process of each node (worker 0, which also
serves http and https): at start and every `[acme] check_interval` seconds. The
cluster's lease `acme-orders` (store.locks) lets one process order at a time,
`postfach cert renew` included; an exclusive lock on `acme/order.lock` guards
the data directory as well. The node that orders puts its HTTP-01 answers and
the certificates into the store (`tls_files`): the CA may ask any node, and the
other nodes copy the certificates into their data_dir within a minute. The
listeners of every worker notice a new file by themselves (net/certs.py).
TLS-ALPN-01 answers stay on the ordering node: in a cluster behind one name,
use HTTP-01.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postfach.acme.order import AcmeSettings, OrderError, Shared, order_certificate
from postfach.config import Config
from postfach.net.certs import CertFiles, cert_info, covers, write_private
from postfach.store.api import StoreApi

__all__ = [
    "CertRenewal",
    "OrderUnderWay",
    "RenewalResult",
    "acme_settings",
    "cert_files",
    "copy_shared",
    "due_groups",
    "order_due",
    "renew",
    "wanted_groups",
]

log = logging.getLogger(__name__)

CHALLENGE_LISTENERS = {"http-01": "http", "tls-alpn-01": "https"}
LEASE = "acme-orders"  # store.locks: one orderer in the cluster
LEASE_TIME = 3600.0  # seconds; a node that dies ordering holds it no longer
COPY_INTERVAL = 60.0  # seconds between looks for certificates other nodes ordered
SHARE_TIMEOUT = 30.0


class OrderUnderWay(Exception):
    """Another process holds the order lock."""


@dataclass(slots=True)
class RenewalResult:
    issued: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line per failed order
    busy: bool = False  # another process or node was ordering: nothing done


def cert_files(config: Config) -> CertFiles:
    return CertFiles(config.data_path / "tls")


def acme_settings(config: Config) -> AcmeSettings:
    """The challenges we can answer: each needs its listener."""
    enabled = {spec.name for spec in config.listeners_enabled()}
    usable = tuple(c for c in config.acme.challenges if CHALLENGE_LISTENERS[c] in enabled)
    return AcmeSettings(
        directory=config.acme.directory,
        email=config.acme.email,
        ca_bundle=config.acme.ca_bundle,
        challenges=usable,
    )


def wanted_groups(config: Config, domains: Sequence[str]) -> list[tuple[str, ...]]:
    """The names of each certificate: the host's, then one per domain."""
    host = tuple(dict.fromkeys((config.server.hostname.lower(), config.public_name.lower())))
    groups = [host]
    for domain in sorted({d.lower() for d in domains}):
        groups.append((f"autoconfig.{domain}", f"autodiscover.{domain}", f"mta-sts.{domain}"))
    return groups


def due_groups(
    files: CertFiles, groups: Sequence[tuple[str, ...]], now: datetime.datetime
) -> list[tuple[str, ...]]:
    due = []
    for names in groups:
        try:
            info = cert_info(files.issued(names[0]).read_bytes())
        except (FileNotFoundError, ValueError):
            due.append(names)
            continue
        covered = all(any(covers(p, name) for p in info.names) for name in names)
        if not covered or info.due(now):
            due.append(names)
    return due


@contextlib.contextmanager
def _order_lock(files: CertFiles) -> Iterator[None]:
    files.acme_dir.mkdir(parents=True, exist_ok=True)
    with open(files.acme_dir / "order.lock", "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OrderUnderWay("another process is ordering certificates now") from None
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _clear_challenges(files: CertFiles) -> None:
    """Answers left by an order that was killed half-way."""
    for folder in (files.http01_dir, files.tls_alpn_dir):
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)


def renew(
    config: Config,
    domains: Sequence[str],
    *,
    force: bool = False,
    shared: Shared | None = None,
) -> RenewalResult:
    """Orders every certificate that is due (all with `force`). Blocking."""
    files = cert_files(config)
    settings = acme_settings(config)
    result = RenewalResult()
    groups = wanted_groups(config, domains)
    now = datetime.datetime.now(datetime.UTC)
    todo = groups if force else due_groups(files, groups, now)
    if not todo:
        return result
    if not settings.challenges:
        result.failed.append("no listener for an ACME challenge: enable http (80) or https (443)")
        return result
    with _order_lock(files):
        _clear_challenges(files)
        for names in todo:
            try:
                result.issued.append(order_certificate(files, settings, names, shared))
            except OrderError as exc:
                log.warning("acme: order failed: %s", exc)
                result.failed.append(str(exc))
    return result


class StoreShare:
    """`Shared` on the store's tls_files, for the ordering thread: each call waits
    for the event loop that owns the store."""

    def __init__(self, store: StoreApi, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop

    def publish(self, name: str, data: bytes) -> None:
        put = self.store.tls_files.put_tls_file(name, data)
        asyncio.run_coroutine_threadsafe(put, self.loop).result(SHARE_TIMEOUT)

    def withdraw(self, name: str) -> None:
        drop = self.store.tls_files.delete_tls_file(name)
        asyncio.run_coroutine_threadsafe(drop, self.loop).result(SHARE_TIMEOUT)


async def copy_shared(config: Config, store: StoreApi) -> list[Path]:
    """Writes the certificates another node ordered into our data_dir; returns those new."""
    files = cert_files(config)
    written = []
    for name, data in (await store.tls_files.tls_files_under("certs/")).items():
        path = files.certs_dir / Path(name).name
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = b""
        if current != data and _newer(data, current):
            write_private(path, data)
            written.append(path)
    return written


def _newer(shared: bytes, local: bytes) -> bool:
    """The shared copy lasts longer than ours (or ours is missing or unreadable)."""
    try:
        mine = cert_info(local)
    except ValueError:
        return True
    try:
        return cert_info(shared).not_after > mine.not_after
    except ValueError:
        return False


async def order_due(
    config: Config, store: StoreApi, owner: str, *, force: bool = False
) -> RenewalResult:
    """What one process of the cluster does: take the others' certificates, then, holding
    the cluster's lease (so no two nodes order at once), order what is still due."""
    await copy_shared(config, store)
    if not await store.locks.try_lock(LEASE, owner, LEASE_TIME):
        return RenewalResult(busy=True)
    try:
        domains = [domain.name for domain in await store.accounts.list_domains()]
        shared = StoreShare(store, asyncio.get_running_loop())
        try:
            return await asyncio.to_thread(renew, config, domains, force=force, shared=shared)
        except OrderUnderWay:
            return RenewalResult(busy=True)
    finally:
        await store.locks.unlock(LEASE, owner)


class CertRenewal:
    """The periodic check of one node (its primary process)."""

    def __init__(self, config: Config, store: StoreApi, owner: str) -> None:
        self.config = config
        self.store = store
        self.owner = owner
        self._tasks: list[asyncio.Task[None]] = []
        self._running = asyncio.Lock()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._order_loop(), name="certificate renewal"),
            asyncio.create_task(self._copy_loop(), name="certificate copies"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_once(self, *, force: bool = False) -> RenewalResult:
        """Orders what is due now; a check under way is waited for, not doubled."""
        async with self._running:
            return await order_due(self.config, self.store, self.owner, force=force)

    async def _order_loop(self) -> None:
        while True:
            try:
                result = await self.run_once()
                for line in result.failed:
                    log.warning("acme: %s", line)
            except Exception:
                log.exception("certificate renewal failed")
            await asyncio.sleep(self.config.acme.check_interval)

    async def _copy_loop(self) -> None:
        """Certificates another node ordered reach this one within a minute."""
        while True:
            await asyncio.sleep(COPY_INTERVAL)
            try:
                for path in await copy_shared(self.config, self.store):
                    log.info("tls: took %s from the cluster", path.name)
            except Exception:
                log.exception("copying the cluster's certificates failed")
