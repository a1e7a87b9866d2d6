"""`postfach settings` and `postfach doctor`: helping people set up mail programs.

`settings ADDR` prints server, port, security and user name for IMAP, POP3
and SMTP (R27); `doctor ADDR` tries them as a mail program would and says
what to change (R8, R29). Both read this server's config and store only when
a config file exists, so they also work on any computer for any address.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from rich.console import Console

from postfach.clientsetup.checks import CheckOptions, CheckResult, Status, Target, parse_target
from postfach.clientsetup.discover import Discovery
from postfach.clientsetup.doctor import exit_status, run_checks
from postfach.clientsetup.settings import lookup_settings, print_settings, settings_json
from postfach.config import Config, find_config_file, load_config, parse_host_port
from postfach.store import Store

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "settings",
        parents=[common],
        help="print the IMAP/POP3/SMTP settings for an address",
        description="Server, port, security and user name a mail program needs: for this "
        "server's domains, well-known providers, or from the domain's autoconfig/SRV records.",
    )
    p.add_argument("address")
    p.add_argument("--json", action="store_true", help="print JSON for programs")
    p.add_argument("--no-network", action="store_true", help="no autoconfig or DNS lookups")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per lookup (default 5)")
    p.set_defaults(handler=run_settings)
    _register_doctor(sub, common)


def _register_doctor(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="try an address's servers like a mail program and say what is wrong",
        description="Resolves, connects, checks TLS and the certificate, the greeting, "
        "the login and (SMTP) the sender address, and says in plain words what to change. "
        "Servers are HOST:PORT[/ssl|/starttls|/none]; without them, the address's settings. "
        "Exit status 0 only when no step fails.",
    )
    p.add_argument("address")
    for proto in ("imap", "pop3", "smtp"):
        p.add_argument(f"--{proto}", metavar="HOST:PORT", help=f"the {proto.upper()} server")
    p.add_argument("--user", help="user name for the logins (default: the address)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--json", action="store_true", help="print JSON for programs")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per step (default 10)")
    p.add_argument("--cafile", help="also trust this certificate or CA (PEM)")
    p.add_argument(
        "--http", metavar="HOST:PORT", help="a web port whose Date tells the server's clock"
    )
    p.add_argument("--no-network", action="store_true", help="no autoconfig or DNS SRV lookups")
    p.set_defaults(handler=run_doctor)


@contextlib.asynccontextmanager
async def _maybe_store(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[Config | None, Store | None]]:
    """This server's config and store when a config file exists; else neither."""
    if find_config_file(getattr(args, "config", None)) is None:
        yield None, None
        return
    config = load_config(args.config)
    store = await Store.connect(config.storage.url)
    try:
        yield config, store
    finally:
        await store.close()


def _console() -> Console:
    console = Console(highlight=False, markup=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 132  # piped or captured: room for the table, never folded names
    return console


async def run_settings(args: argparse.Namespace) -> int:
    discovery = None if args.no_network else Discovery(timeout=args.timeout)
    async with _maybe_store(args) as (config, store):
        settings = await lookup_settings(
            args.address, config=config, store=store, discovery=discovery
        )
    if args.json:
        print(settings_json(settings))
    else:
        print_settings(settings, _console())
    return 0 if settings.known else 1


def _targets(args: argparse.Namespace) -> list[Target] | None:
    targets = [
        parse_target(proto.upper(), getattr(args, proto))
        for proto in ("imap", "pop3", "smtp")
        if getattr(args, proto)
    ]
    if args.user:
        targets = [Target(t.protocol, t.host, t.port, t.security, args.user) for t in targets]
    return targets or None


def _password(args: argparse.Namespace) -> str | None:
    """From stdin, or asked once at a terminal; empty: the logins are not tried."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.address} (Enter: skip the logins): ")
    else:
        password = ""
    return password or None


async def run_doctor(args: argparse.Namespace) -> int:
    targets = _targets(args)
    password = _password(args)
    http = parse_host_port(args.http, "--http", "command line") if args.http else None
    options = CheckOptions(
        timeout=args.timeout, greeting_wait=min(args.timeout, 5.0), cafile=args.cafile, http=http
    )
    discovery = None if args.no_network else Discovery(timeout=min(args.timeout, 5.0))
    async with _maybe_store(args) as (config, store):
        results = await run_checks(
            args.address,
            password,
            targets=targets,
            config=config,
            store=store,
            options=options,
            discovery=discovery,
        )
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        print_results(args.address, results, _console())
    return exit_status(results)


_MARKS = {Status.PASS: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def print_results(address: str, results: list[CheckResult], console: Console) -> None:
    """One block per server: a line per step, the hint and the server's words below."""
    console.print(f"Checking the mail servers of {address}")
    shown: tuple[str, str] = ("", "-")
    for r in results:
        if (r.protocol, r.target) != shown:
            console.print(f"\n{r.protocol or 'setup'}  {r.target}".rstrip())
            shown = (r.protocol, r.target)
        console.print(f"  {_MARKS[r.status]}  {r.step.value}: {r.summary}")
        if r.hint and r.status is not Status.PASS:
            console.print(f"        what to do: {r.hint}")
        if r.detail and r.status in (Status.FAIL, Status.WARN):
            console.print(f"        details: {r.detail}")
    failed = sum(r.failed for r in results)
    warned = sum(r.status is Status.WARN for r in results)
    verdict = "everything works" if not failed else f"{failed} step(s) failed"
    console.print(f"\n{verdict}" + (f", {warned} warning(s)" if warned else ""))
