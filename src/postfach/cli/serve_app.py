"""The heavy half of `postfach serve`: what runs an App, and the preparation step.

cli/serve.py, which the supervisor of `serve --workers N` runs, imports this
only where an App runs (one process, or a worker) or in the child that
prepares the data before the workers start: the store's schema, the demo
account of `--dev`, the self-signed TLS pair. So the supervisor never loads
the store, the protocols or the web stack it does not use.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
from pathlib import Path

from postfach.app import App, WorkerRole
from postfach.auth.passwords import generate_app_password, hash_password_async
from postfach.config import Config
from postfach.net.tls import server_ssl_context
from postfach.store import Store
from postfach.store.records import Account
from postfach.workers import WorkerSpec, read_secret

__all__ = ["DEV_USER", "dev_password", "prepare", "start_single", "start_worker"]

DEV_DOMAIN = "example.test"
DEV_USER = f"demo@{DEV_DOMAIN}"
DEV_PASSWORD_FILE = "dev-password"  # noqa: S105 - a file name

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


def dev_lines(config: Config, password: str, account: Account) -> str:
    """What the banner of `--dev` says of the demo account."""
    # Imported here: clientsetup loads the doctor's libraries (rich), only for --dev.
    from postfach.clientsetup.own import settings_table

    return (
        f"\ndemo account: {DEV_USER}  password: {password}\n\n"
        f"{settings_table(config, DEV_USER, account)}\n"
    )


async def prepare(args: argparse.Namespace, config: Config) -> int:
    """The child the supervisor runs before its workers: the schema created or
    migrated once (before the workers open the database), the demo account of
    --dev, the TLS pair made once if missing (or every worker would write its
    own self-signed pair). Prints the banner's lines of the demo account."""
    if args.dev:
        password, account = await _prepare_dev(config)
        print(dev_lines(config, password, account), end="", flush=True)
    else:
        await (await Store.connect(config.storage.url)).close()
    server_ssl_context(config)
    return 0


async def start_single(args: argparse.Namespace, config: Config) -> tuple[App, str]:
    """`serve` in one process: the App, started, serving every listener itself,
    and the banner's lines of the demo account ("" without --dev)."""
    lines = dev_lines(config, *await _prepare_dev(config)) if args.dev else ""
    app = App(config)
    await app.start()
    gc.freeze()  # what start-up built lives for good: full collections need not walk it
    return app, lines


async def start_worker(config: Config, spec: WorkerSpec) -> App:
    """One worker of `serve --workers N` (postfach/workers.py), started."""
    role = WorkerRole(
        index=spec.index,
        relay=socket.socket(fileno=spec.relay_fd),
        handoff=socket.socket(fileno=spec.handoff_fd),
        sockets={name: socket.socket(fileno=fd) for name, fd in spec.socket_fds.items()},
        runtime_path=spec.runtime,
        secret=read_secret(spec.secret_fd),
    )
    app = App(config, role)
    await app.start()
    gc.freeze()  # as above: shorter pauses of the loop on a full collection
    return app
