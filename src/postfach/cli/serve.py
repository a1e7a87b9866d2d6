"""`postfach serve`: every configured listener, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import signal
import socket
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from postfach.auth.passwords import generate_app_password, hash_password_async
from postfach.clientsetup.own import settings_table
from postfach.config import Config, ListenerSpec, dev_config, load_config
from postfach.logsetup import configure_logging
from postfach.store import Store
from postfach.store.records import Account
from postfach.workers import Supervisor, WorkerSpec, die_with_supervisor

__all__ = ["register"]

DEV_DOMAIN = "example.test"
DEV_USER = f"demo@{DEV_DOMAIN}"
DEV_PASSWORD_FILE = "dev-password"  # noqa: S105 - a file name


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="run every configured listener",
        description="Runs SMTP, IMAP, POP3 and HTTP as configured. With --dev: no config "
        "needed, data in ./dev-data, high ports on 127.0.0.1, demo user printed (its password "
        "is kept in the data directory's dev-password file).",
    )
    p.add_argument("--dev", action="store_true", help="development mode (see above)")
    p.add_argument(
        "--workers",
        type=_count,
        metavar="N",
        help="worker processes sharing the listeners (default: server.workers; "
        "0: CPU cores + 1; --dev: 1)",
    )
    p.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)  # set by the supervisor
    p.set_defaults(handler=run_serve)


def dev_password(data_dir: Path) -> str:
    """The demo user's password: made once and kept in the data directory (0600), so
    a mail program set up yesterday still logs in today."""
    path = data_dir / DEV_PASSWORD_FILE
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        return kept
    password = generate_app_password()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    return password


async def _prepare_dev(config: Config) -> tuple[str, Account]:
    """The demo domain and user; the password is the one kept in the data directory."""
    password = dev_password(config.data_path)
    store = await Store.connect(config.storage.url)
    try:
        if await store.accounts.get_domain(DEV_DOMAIN) is None:
            await store.accounts.add_domain(DEV_DOMAIN)
        digest = await hash_password_async(password)
        account = await store.accounts.get_account(DEV_USER)
        if account is None:
            account = await store.accounts.add_account(DEV_USER, digest)
        else:
            await store.accounts.set_password_hash(account.id, digest)
        if not account.admin:  # the one trying postfach out sees the admin pages too
            account = await store.accounts.update_account(account.id, admin=True)
    finally:
        await store.close()
    return password, account


def _config(args: argparse.Namespace) -> Config:
    if not args.dev:
        return load_config(args.config)
    if args.config:
        return replace(load_config(args.config), dev=True)
    return dev_config(Path.cwd())


async def run_serve(args: argparse.Namespace) -> int:
    # From the first moment: a SIGTERM while starting stops cleanly once started.
    stop = _stop_on_signal()
    if args.worker:
        return await _run_worker(args, WorkerSpec.decode(args.worker), stop)
    config = _config(args)
    configure_logging(config.log.format)
    password, account = await _prepare_dev(config) if args.dev else ("", None)
    workers = args.workers if args.workers is not None else config.server.workers
    if workers == 0:
        workers = config.server.worker_count()
    if ":memory:" in config.storage.url:
        workers = 1  # an in-memory database cannot be shared between processes
    raise_descriptor_limit()
    if workers > 1:
        return await _run_supervisor(args, config, workers, password, account, stop)
    from postfach.app import App  # here: a supervisor and every other command do without

    app = App(config)
    await app.start()
    gc.freeze()  # what start-up built lives for good: full collections need not walk it
    try:
        ports = {name: (lst.spec, lst.port) for name, lst in app.listeners.items()}
        _print_banner(config, ports, password, account, workers=1)
        await _wait_for(stop)
    finally:
        await app.stop()
    return 0


async def _run_supervisor(
    args: argparse.Namespace,
    config: Config,
    workers: int,
    password: str,
    account: Account | None,
    stop: asyncio.Event,
) -> int:
    # Create or migrate the schema once, before the workers open the database.
    await (await Store.connect(config.storage.url)).close()
    serve_args = (["--dev"] if args.dev else []) + (
        ["--config", args.config] if args.config else []
    )
    supervisor = Supervisor(config, workers, serve_args)
    await supervisor.start()
    try:
        specs = {s.name: s for s in config.listeners_enabled()}
        ports = {name: (specs[name], supervisor.port(name)) for name in supervisor.sockets}
        _print_banner(config, ports, password, account, workers=workers)
        await _wait_for(stop, supervisor.failed)
    finally:
        await supervisor.stop()
    return 1 if supervisor.failed.is_set() else 0


async def _run_worker(args: argparse.Namespace, spec: WorkerSpec, stop: asyncio.Event) -> int:
    if not die_with_supervisor(spec.supervisor):
        return 1  # orphaned before it began: nobody would hand it a connection
    config = _config(args)
    configure_logging(config.log.format, worker=spec.index)
    from postfach.app import App, WorkerRole  # here: see run_serve

    role = WorkerRole(
        index=spec.index,
        relay=socket.socket(fileno=spec.relay_fd),
        handoff=socket.socket(fileno=spec.handoff_fd),
        sockets={name: socket.socket(fileno=fd) for name, fd in spec.socket_fds.items()},
        runtime_path=spec.runtime,
    )
    raise_descriptor_limit()
    app = App(config, role)
    await app.start()
    gc.freeze()  # as above: shorter pauses of the loop on a full collection
    try:
        assert app.relay is not None
        await _wait_for(stop, app.relay.closed)  # closed: the supervisor is gone
    finally:
        await app.stop()
    return 0


def raise_descriptor_limit() -> None:
    """Lifts the soft RLIMIT_NOFILE to the hard one: the connection budget
    (net.fd_budget) follows the soft limit, which shells often leave at 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _print_banner(
    config: Config,
    ports: Mapping[str, tuple[ListenerSpec, int]],
    password: str,
    account: Account | None,
    workers: int,
) -> None:
    processes = f"; {workers} worker processes" if workers > 1 else ""
    print(f"postfach serving ({config.source}); storage {config.storage.url}{processes}")
    for name, (spec, port) in ports.items():
        print(f"  {name:<12} {spec.host}:{port}")
    if password:
        print(f"\ndemo account: {DEV_USER}  password: {password}\n")
        print(settings_table(config, DEV_USER, account))
    print("\nstop with Ctrl-C", flush=True)


def _stop_on_signal() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for(*events: asyncio.Event) -> None:
    """Until the first of `events` is set."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
