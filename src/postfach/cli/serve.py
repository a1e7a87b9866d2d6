"""`postfach serve`: every configured listener, until SIGINT or SIGTERM.

With several workers this process is their supervisor, which only accepts,
hands connections over and watches (postfach/workers.py): this module and
what it imports at the top stay light, so the supervisor does not hold the
store, the protocols and the web stack that only its workers use (about
25 MB instead of 100, bench/memory.py; tests/workers/test_lean_supervisor.py
keeps it so). What runs an App, and the preparation before the workers start,
is in serve_app.py, imported where it is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from postfach.config import Config, ListenerSpec, dev_config, load_config
from postfach.heap import return_big_blocks
from postfach.logsetup import configure_logging
from postfach.workers import Supervisor, WorkerSpec, die_with_supervisor

__all__ = ["register"]


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
    # The supervisor's child that prepares the data before the workers start.
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run_serve)


def _config(args: argparse.Namespace) -> Config:
    if not args.dev:
        return load_config(args.config)
    if args.config:
        return replace(load_config(args.config), dev=True)
    return dev_config(Path.cwd())


async def run_serve(args: argparse.Namespace) -> int:
    # From the first moment: a SIGTERM while starting stops cleanly once started.
    stop = _stop_on_signal()
    return_big_blocks()
    if args.worker:
        return await _run_worker(args, WorkerSpec.decode(args.worker), stop)
    config = _config(args)
    configure_logging(config.log.format)
    if args.prepare:
        from postfach.cli.serve_app import prepare

        return await prepare(args, config)
    workers = args.workers if args.workers is not None else config.server.workers
    if workers == 0:
        workers = config.server.worker_count()
    if ":memory:" in config.storage.url:
        workers = 1  # an in-memory database cannot be shared between processes
    raise_descriptor_limit()
    if workers > 1:
        return await _run_supervisor(args, config, workers, stop)
    from postfach.cli.serve_app import start_single

    app, lines = await start_single(args, config)
    try:
        ports = {name: (lst.spec, lst.port) for name, lst in app.listeners.items()}
        _print_banner(config, ports, lines, workers=1)
        await _wait_for(stop)
    finally:
        await app.stop()
    return 0


async def _prepare(args: argparse.Namespace) -> tuple[int, str]:
    """Runs `serve --prepare` (serve_app.prepare) in a child: what it does needs the
    store and the TLS stack, which the supervisor then never loads. Returns its
    exit status and what it printed (the demo account's lines); its errors go to
    the same stderr."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "postfach",
        "serve",
        *_serve_args(args),
        "--prepare",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    return child.returncode or 0, out.decode()


def _serve_args(args: argparse.Namespace) -> list[str]:
    """How a child process finds the same config."""
    return (["--dev"] if args.dev else []) + (["--config", args.config] if args.config else [])


async def _run_supervisor(
    args: argparse.Namespace, config: Config, workers: int, stop: asyncio.Event
) -> int:
    status, lines = await _prepare(args)
    if status != 0:
        return status  # the child said why on stderr
    supervisor = Supervisor(config, workers, _serve_args(args))
    await supervisor.start()
    try:
        specs = {s.name: s for s in config.listeners_enabled()}
        ports = {name: (specs[name], supervisor.port(name)) for name in supervisor.sockets}
        _print_banner(config, ports, lines, workers=workers)
        await _wait_for(stop, supervisor.failed)
    finally:
        await supervisor.stop()
    return 1 if supervisor.failed.is_set() else 0


async def _run_worker(args: argparse.Namespace, spec: WorkerSpec, stop: asyncio.Event) -> int:
    if not die_with_supervisor(spec.supervisor):
        return 1  # orphaned before it began: nobody would hand it a connection
    config = _config(args)
    configure_logging(config.log.format, worker=spec.index)
    raise_descriptor_limit()
    from postfach.cli.serve_app import start_worker

    app = await start_worker(config, spec)
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
    config: Config, ports: Mapping[str, tuple[ListenerSpec, int]], lines: str, workers: int
) -> None:
    """The listeners' ports and, with --dev, the demo account (`lines`)."""
    processes = f"; {workers} worker processes" if workers > 1 else ""
    print(f"postfach serving ({config.source}); storage {config.storage.url}{processes}")
    for name, (spec, port) in ports.items():
        print(f"  {name:<12} {spec.host}:{port}")
    print(lines, end="")
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
