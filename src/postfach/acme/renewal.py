"""Which certificates postfach wants, when each is due, and the job that orders them.

One certificate for the host name (and the public name), and one per mail domain
for `autoconfig.DOMAIN`, `autodiscover.DOMAIN` (Outlook asks there before it
follows the SRV record) and `mta-sts.DOMAIN`: a domain whose DNS is not ready yet
does not hold up the others. A certificate is due when missing, when it no longer
covers its names, or with a third of its lifetime (at most 30 days) left.

`CertRenewal` runs in the primary process of a node (worker 0, which also serves
http and https): at start and every `[acme] check_interval` seconds. An exclusive
lock on `acme/order.lock` keeps `postfach cert renew` and the server from
ordering at once. The listeners of every worker notice a new file by itself
(net/certs.py), so nothing needs telling.
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

from postfach.acme.order import AcmeSettings, OrderError, order_certificate
from postfach.config import Config
from postfach.net.certs import CertFiles, cert_info, covers
from postfach.store.api import StoreApi

__all__ = [
    "CertRenewal",
    "OrderUnderWay",
    "RenewalResult",
    "acme_settings",
    "cert_files",
    "due_groups",
    "renew",
    "wanted_groups",
]

log = logging.getLogger(__name__)

CHALLENGE_LISTENERS = {"http-01": "http", "tls-alpn-01": "https"}


class OrderUnderWay(Exception):
    """Another process holds the order lock."""


@dataclass(slots=True)
class RenewalResult:
    issued: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line per failed order


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
    config: Config, domains: Sequence[str], *, force: bool = False
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
                result.issued.append(order_certificate(files, settings, names))
            except OrderError as exc:
                log.warning("acme: order failed: %s", exc)
                result.failed.append(str(exc))
    return result


class CertRenewal:
    """The periodic check of one node (its primary process)."""

    def __init__(self, config: Config, store: StoreApi) -> None:
        self.config = config
        self.store = store
        self._task: asyncio.Task[None] | None = None
        self._running = asyncio.Lock()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="certificate renewal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, *, force: bool = False) -> RenewalResult:
        """Orders what is due now; a check under way is waited for, not doubled."""
        async with self._running:
            domains = [domain.name for domain in await self.store.accounts.list_domains()]
            try:
                return await asyncio.to_thread(renew, self.config, domains, force=force)
            except OrderUnderWay as exc:
                return RenewalResult(failed=[str(exc)])

    async def _loop(self) -> None:
        while True:
            try:
                result = await self.run_once()
                for line in result.failed:
                    log.warning("acme: %s", line)
            except Exception:
                log.exception("certificate renewal failed")
            await asyncio.sleep(self.config.acme.check_interval)
