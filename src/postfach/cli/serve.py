"""`postfach serve`: every configured listener, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

from postfach.app import App
from postfach.auth.passwords import generate_app_password, hash_password_async
from postfach.clientsettings import settings_table
from postfach.config import Config, dev_config, load_config
from postfach.store import Store
from postfach.store.records import Account

__all__ = ["register"]

DEV_DOMAIN = "example.test"
DEV_USER = f"demo@{DEV_DOMAIN}"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="run every configured listener",
        description="Runs SMTP, IMAP, POP3 and HTTP as configured. With --dev: no config "
        "needed, data in ./dev-data, high ports on 127.0.0.1, demo user printed.",
    )
    p.add_argument("--dev", action="store_true", help="development mode (see above)")
    p.set_defaults(handler=run_serve)


async def _prepare_dev(config: Config) -> tuple[str, Account]:
    """The demo domain and user; the password is new at every start and printed."""
    password = generate_app_password()
    store = await Store.connect(config.storage.url)
    try:
        if await store.get_domain(DEV_DOMAIN) is None:
            await store.add_domain(DEV_DOMAIN)
        digest = await hash_password_async(password)
        account = await store.get_account(DEV_USER)
        if account is None:
            account = await store.add_account(DEV_USER, digest)
        else:
            await store.set_password_hash(account.id, digest)
    finally:
        await store.close()
    return password, account


async def run_serve(args: argparse.Namespace) -> int:
    if args.dev:
        config = dev_config(Path.cwd())
        if args.config:
            config = replace(load_config(args.config), dev=True)
        password, account = await _prepare_dev(config)
    else:
        config = load_config(args.config)
        password, account = "", None
    app = App(config)
    await app.start()
    try:
        _print_banner(app, config, password, account)
        await _wait_for_signal()
    finally:
        await app.stop()
    return 0


def _print_banner(app: App, config: Config, password: str, account: Account | None) -> None:
    print(f"postfach serving ({config.source}); storage {config.storage.url}")
    for name, listener in app.listeners.items():
        spec = listener.spec
        print(f"  {name:<12} {spec.host}:{listener.port}")
    if password:
        print(f"\ndemo account: {DEV_USER}  password: {password}\n")
        print(settings_table(config, DEV_USER, account))
    print("\nstop with Ctrl-C", flush=True)


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
