"""`postfach sieve list | put | activate | show`: an account's Sieve scripts for
operators (users manage theirs over ManageSieve and the web rules page)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from postfach.cli.common import open_store
from postfach.sieve import SieveError, compile_script
from postfach.store import Store
from postfach.store.api import NotFound
from postfach.store.records import AccountId

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    sieve = sub.add_parser("sieve", help="an account's Sieve scripts (mail rules)")
    ssub = sieve.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ssub.add_parser("list", parents=[common], help="list the account's scripts")
    p.add_argument("address")
    p.set_defaults(handler=sieve_list)
    p = ssub.add_parser(
        "put", parents=[common], help="check a script and store it (create or replace)"
    )
    p.add_argument("address")
    p.add_argument("name")
    p.add_argument("file", help="the script's file; - for standard input")
    p.add_argument("--activate", action="store_true", help="make it the active script")
    p.set_defaults(handler=sieve_put)
    p = ssub.add_parser(
        "activate", parents=[common], help="make a script the active one (no NAME: none)"
    )
    p.add_argument("address")
    p.add_argument("name", nargs="?")
    p.set_defaults(handler=sieve_activate)
    p = ssub.add_parser("show", parents=[common], help="print a script")
    p.add_argument("address")
    p.add_argument("name")
    p.set_defaults(handler=sieve_show)


async def _account(store: Store, address: str) -> AccountId:
    account = await store.accounts.get_account(address)
    if account is None:
        raise NotFound(f"no account {address}")
    return account.id


async def sieve_list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        scripts = await store.sieve.list_scripts(await _account(store, args.address))
    for script in scripts:
        print(f"{script.name}  {script.size} bytes" + ("  active" if script.active else ""))
    return 0


async def sieve_put(args: argparse.Namespace) -> int:
    source = "standard input" if args.file == "-" else args.file
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    try:
        compile_script(text)
    except SieveError as exc:
        raise ValueError(f"{source}: {exc}") from None
    async with open_store(args) as (_config, store):
        account_id = await _account(store, args.address)
        await store.sieve.put_script(account_id, args.name, text)
        if args.activate:
            await store.sieve.set_active(account_id, args.name)
    print(f"stored {args.name} for {args.address}" + (", active" if args.activate else ""))
    return 0


async def sieve_activate(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        if not await store.sieve.set_active(await _account(store, args.address), args.name):
            raise NotFound(f"{args.address} has no script {args.name!r}")
    print(f"active for {args.address}: {args.name or 'none'}")
    return 0


async def sieve_show(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        text = await store.sieve.get_script(await _account(store, args.address), args.name)
    if text is None:
        raise NotFound(f"{args.address} has no script {args.name!r}")
    sys.stdout.write(text)
    return 0
