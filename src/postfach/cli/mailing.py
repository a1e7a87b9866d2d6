"""`postfach mailing ...`: relays, lists, campaigns, sending, status, bounces (R22–R26).

    mailing relay add NAME --sender ADDR (--internal | --host H [--port P]) [...]
    mailing relay list | test NAME | remove NAME | set NAME KEY=VALUE...
    mailing list import FILE.csv [--list NAME] | mailing list show
    mailing campaign create NAME --list L --subject S [--text F] [--html F] [...]
    mailing campaign show NAME [--all]
    mailing send CAMPAIGN [--no-wait]
    mailing status
    mailing bounces add NAME --host H --port P --login L [...] | list | remove NAME
    mailing bounces check [NAME]

Passwords are read from stdin (`--password-stdin`) or asked at the terminal, and
are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from postfach.cli.common import open_store, read_password, switch
from postfach.mailing.api import BounceBoxSettings, Mailing, RelayStatus
from postfach.mailing.bouncebox import BoxResult
from postfach.mailing.relays import RelaySettings
from postfach.store.mailing import Outcome, Relay

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    mailing = sub.add_parser("mailing", help="bulk mailing: relays, campaigns, bounces")
    msub = mailing.add_subparsers(dest="mailing_command", metavar="COMMAND", required=True)
    _register_relay(msub, common)
    _register_list(msub, common)
    _register_campaign(msub, common)
    p = msub.add_parser("send", parents=[common], help="queue a campaign and send it")
    p.add_argument("campaign")
    p.add_argument(
        "--no-wait", action="store_true", help="only queue it; the running server sends it"
    )
    p.set_defaults(handler=send)
    p = msub.add_parser("status", parents=[common], help="each relay's room this hour and today")
    p.set_defaults(handler=status)
    _register_bounces(msub, common)


def _register_relay(msub: Any, common: argparse.ArgumentParser) -> None:
    relay = msub.add_parser("relay", help="SMTP servers campaigns go through")
    rsub = relay.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = rsub.add_parser("add", parents=[common], help="add a relay (appended to the order)")
    p.add_argument("name")
    p.add_argument("--sender", required=True, help="the relay's sender address")
    p.add_argument("--sender-name", default="")
    p.add_argument("--internal", action="store_true", help="this postfach itself")
    p.add_argument("--host", default="")
    p.add_argument("--port", type=int, default=0, help="default: by --security")
    p.add_argument("--security", default="starttls", help="none, tls (SSL/TLS) or starttls")
    p.add_argument("--no-verify", action="store_true", help="accept any TLS certificate")
    p.add_argument("--login", default="")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--allow-substitution", action="store_true", help="campaigns may set From")
    p.add_argument("--hourly", type=int, default=0, help="messages per rolling hour (0: no limit)")
    p.add_argument("--daily", type=int, default=0, help="messages per rolling day (0: no limit)")
    p.add_argument("--order", type=int, default=None, help="position (default: last)")
    p.add_argument("--disabled", action="store_true")
    p.add_argument("--concurrency", type=int, default=2, help="connections at once")
    p.add_argument("--per-connection", type=int, default=100, help="messages per connection")
    p.set_defaults(handler=relay_add)
    p = rsub.add_parser("list", parents=[common], help="relays in sending order")
    p.set_defaults(handler=relay_list)
    p = rsub.add_parser("test", parents=[common], help="connect and log in, say what happened")
    p.add_argument("name")
    p.set_defaults(handler=relay_test)
    p = rsub.add_parser("remove", parents=[common], help="remove a relay")
    p.add_argument("name")
    p.set_defaults(handler=relay_remove)
    p = rsub.add_parser(
        "set",
        parents=[common],
        help="change settings",
        description="Keys: enabled, order, hourly, daily, allow-substitution, host, port, "
        "security, login, sender, sender-name, concurrency, per-connection, verify; "
        "password=- reads the new password from stdin.",
    )
    p.add_argument("name")
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(handler=relay_set)


def _register_list(msub: Any, common: argparse.ArgumentParser) -> None:
    lists = msub.add_parser("list", help="contact lists")
    lsub = lists.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = lsub.add_parser("import", parents=[common], help="import contacts from a CSV file")
    p.add_argument("file", type=Path)
    p.add_argument("--list", dest="list_name", help="list name (default: the file's name)")
    p.set_defaults(handler=list_import)
    p = lsub.add_parser("show", parents=[common], help="lists and their sizes")
    p.set_defaults(handler=list_show)


def _register_campaign(msub: Any, common: argparse.ArgumentParser) -> None:
    campaign = msub.add_parser("campaign", help="campaigns")
    csub = campaign.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = csub.add_parser("create", parents=[common], help="create a campaign")
    p.add_argument("name")
    p.add_argument("--list", dest="list_name", required=True)
    p.add_argument("--subject", required=True, help="a Jinja2 template")
    p.add_argument("--text", type=Path, help="file with the text body template")
    p.add_argument("--html", type=Path, help="file with the HTML body template")
    p.add_argument("--from-name", default="")
    p.add_argument("--from-address", default="", help="fixed sender (empty: the relay's)")
    p.add_argument("--attach", type=Path, action="append", default=[])
    p.set_defaults(handler=campaign_create)
    p = csub.add_parser("show", parents=[common], help="a campaign and its recipients' outcomes")
    p.add_argument("name")
    p.add_argument("--all", action="store_true", help="every recipient, not the first 50")
    p.set_defaults(handler=campaign_show)


def _register_bounces(msub: Any, common: argparse.ArgumentParser) -> None:
    bounces = msub.add_parser("bounces", help="mailboxes that receive delivery reports")
    bsub = bounces.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = bsub.add_parser("add", parents=[common], help="add an IMAP bounce mailbox")
    p.add_argument("name")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=993)
    p.add_argument("--security", default="tls", help="none, tls (SSL/TLS) or starttls")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--login", required=True)
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--folder", default="INBOX")
    p.add_argument("--done-folder", default="Processed")
    p.add_argument("--relay", default="", help="the relay it serves (default: all)")
    p.set_defaults(handler=bounces_add)
    p = bsub.add_parser("list", parents=[common], help="bounce mailboxes and their last check")
    p.set_defaults(handler=bounces_list)
    p = bsub.add_parser("remove", parents=[common], help="remove a bounce mailbox")
    p.add_argument("name")
    p.set_defaults(handler=bounces_remove)
    p = bsub.add_parser("check", parents=[common], help="read the bounce mailboxes now")
    p.add_argument("name", nargs="?")
    p.set_defaults(handler=bounces_check)


@contextlib.asynccontextmanager
async def _mailing(args: argparse.Namespace, internal: bool = False) -> AsyncIterator[Mailing]:
    async with open_store(args) as (config, store):
        if not internal:
            yield await Mailing.open(store, config)
            return
        from postfach.app import build_context

        ctx = await build_context(
            config, store, ssl_context=ssl.create_default_context(), node_id="cli"
        )
        try:
            yield Mailing.of_process(ctx)
        finally:
            await ctx.delivery.stop()


# -- relays --------------------------------------------------------------------
async def relay_add(args: argparse.Namespace) -> int:
    password = ""
    if args.login and not args.internal:
        password = read_password(args.password_stdin, f"Password for {args.login}: ", account=False)
    settings = RelaySettings(
        name=args.name, kind="internal" if args.internal else "external",
        sender_address=args.sender, sender_name=args.sender_name, host=args.host,
        port=args.port, security=args.security, tls_verify=not args.no_verify,
        login=args.login, password=password, allow_substitution=args.allow_substitution,
        hourly_limit=args.hourly, daily_limit=args.daily, position=args.order,
        enabled=not args.disabled, concurrency=args.concurrency,
        per_connection=args.per_connection,
    )  # fmt: skip
    async with _mailing(args) as mailing:
        relay = await mailing.add_relay(settings)
    print(f"relay {relay.name} added ({_where(relay)}, order {relay.position})")
    return 0


def _where(relay: Relay) -> str:
    if relay.kind == "internal":
        return "this postfach"
    return f"{relay.host}:{relay.port} {relay.security}"


def _limit(value: int) -> str:
    return str(value) if value else "-"


async def relay_list(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        relays = await mailing.list_relays()
    if not relays:
        print("no relays (add one with: postfach mailing relay add)")
    for r in relays:
        flags = [
            "enabled" if r.enabled else "DISABLED",
            "substitution" if r.allow_substitution else "no-substitution",
        ]
        print(
            f"{r.position:>3} {r.name:<16} {_where(r):<32} sender={r.sender_address} "
            f"login={r.login or '-'} hour={_limit(r.hourly_limit)} day={_limit(r.daily_limit)} "
            f"{' '.join(flags)}"
        )
    return 0


async def relay_test(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        ok, text = await mailing.test_relay(args.name)
    print(text)
    return 0 if ok else 1


async def relay_remove(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        await mailing.remove_relay(args.name)
    print(f"relay {args.name} removed")
    return 0


_RELAY_KEYS = {
    "enabled": ("enabled", "switch"),
    "order": ("position", int),
    "hourly": ("hourly_limit", int),
    "daily": ("daily_limit", int),
    "allow-substitution": ("allow_substitution", "switch"),
    "host": ("host", str),
    "port": ("port", int),
    "security": ("security", str),
    "login": ("login", str),
    "sender": ("sender_address", str),
    "sender-name": ("sender_name", str),
    "concurrency": ("concurrency", int),
    "per-connection": ("per_connection", int),
    "verify": ("tls_verify", "switch"),
}


def _relay_changes(settings: Sequence[str]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item}: expected KEY=VALUE")
        if key == "password":
            changes["password"] = read_password(value == "-", "New password: ", account=False)
            continue
        if key not in _RELAY_KEYS:
            raise ValueError(f"unknown setting {key} (see: postfach mailing relay set --help)")
        field, kind = _RELAY_KEYS[key]
        if kind == "switch":
            changes[field] = switch(value, key)
        elif kind is int:
            changes[field] = int(value)
        else:
            changes[field] = value
    return changes


async def relay_set(args: argparse.Namespace) -> int:
    changes = _relay_changes(args.settings)
    async with _mailing(args) as mailing:
        relay = await mailing.update_relay(args.name, **changes)
    print(f"relay {relay.name} updated")
    return 0


# -- lists and campaigns -------------------------------------------------------
async def list_import(args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    list_name = args.list_name or args.file.stem
    async with _mailing(args) as mailing:
        report = await mailing.import_csv(list_name, text)
    for line, reason in report.errors:
        print(f"{args.file}:{line}: {reason}", file=sys.stderr)
    print(
        f"list {list_name}: {report.added} added, {report.merged} merged into existing "
        f"contacts, {len(report.errors)} invalid row(s) skipped"
    )
    return 0


async def list_show(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        lists = await mailing.store.list_lists()
    for name, count in lists:
        print(f"{name}: {count} contact(s)")
    return 0


async def campaign_create(args: argparse.Namespace) -> int:
    text = _read_text(args.text) if args.text else ""
    html = _read_text(args.html) if args.html else ""
    for path in args.attach:
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
    async with _mailing(args) as mailing:
        campaign = await mailing.create_campaign(
            args.name, args.list_name, args.subject, text=text, html=html,
            from_name=args.from_name, from_address=args.from_address, attachments=args.attach,
        )  # fmt: skip
    print(f"campaign {campaign.name} created (list {args.list_name})")
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None


def _when(timestamp: float) -> str:
    if not timestamp:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


async def campaign_show(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        view = await mailing.show_campaign(args.name, None if args.all else 50)
    c = view.campaign
    sender = f"{c.from_name} <{c.from_address}>" if c.from_address else "(the relay's)"
    print(f"campaign {c.name}: list {view.list_name}, state {c.state}, sender {sender}")
    print(f"subject: {c.subject}")
    totals = ", ".join(f"{n} {state}" for state, n in sorted(view.counts.items())) or "not queued"
    print(f"recipients: {totals}")
    for r in view.recipients:
        relay = f" via {r.relay_name}" if r.relay_name else ""
        print(f"  {r.email:<40} {r.state:<8}{relay} {_when(r.updated)} {r.reply}")
    return 0


# -- sending and status ----------------------------------------------------------
def _quota_text(s: RelayStatus) -> str:
    q = s.quota
    hour = "∞" if q.remaining_hour is None else str(q.remaining_hour)
    day = "∞" if q.remaining_day is None else str(q.remaining_day)
    return f"{s.relay.name}: {hour}/h {day}/d"


async def send(args: argparse.Namespace) -> int:
    async with _mailing(args, internal=True) as mailing:
        added = await mailing.queue(args.campaign)
        counts = await mailing.store.counts((await mailing.campaign(args.campaign)).id)
        if args.no_wait:
            print(f"campaign {args.campaign}: {added} recipient(s) queued; the server sends them")
            return 0
        report = await _send_with_progress(mailing, args.campaign, counts.get("queued", 0))
    print(
        f"campaign {args.campaign}: {report.sent} sent, {report.failed} failed, "
        f"{report.deferred} deferred for a retry"
    )
    for name, reason in report.set_aside.items():
        print(f"relay {name} set aside: {reason}", file=sys.stderr)
    if not report.finished:
        print(f"postfach: stopped: {report.stopped}", file=sys.stderr)
        return 1
    return 0


async def _send_with_progress(mailing: Mailing, name: str, total: int) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[quota]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(name, total=total, rate="", quota="")

        def advance(_relay: Relay, outcomes: Sequence[Outcome]) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, advance=len(outcomes), rate=f"{speed:.0f} msg/s" if speed else "")

        async def refresh() -> None:
            while True:
                quotas = " | ".join(_quota_text(s) for s in await mailing.status())
                bar.update(task, quota=quotas)
                await asyncio.sleep(1.0)

        refresher = asyncio.create_task(refresh())
        try:
            return await mailing.send(name, progress=advance)
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher


async def status(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        statuses = await mailing.status()
    if not statuses:
        print("no relays")
    for s in statuses:
        q = s.quota
        hour = "no limit" if q.remaining_hour is None else f"{q.remaining_hour} left"
        day = "no limit" if q.remaining_day is None else f"{q.remaining_day} left"
        window = f", next window {_when(q.next_window)}" if q.next_window else ""
        state = "" if s.relay.enabled else " (disabled)"
        print(
            f"{s.relay.name}{state}: this hour {q.sent_hour} sent, {hour}; "
            f"today {q.sent_day} sent, {day}{window}"
        )
    return 0


# -- bounces -------------------------------------------------------------------
async def bounces_add(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin, f"Password for {args.login}: ", account=False)
    settings = BounceBoxSettings(
        args.name, args.host, args.port, args.login, password, security=args.security,
        tls_verify=not args.no_verify, folder=args.folder, done_folder=args.done_folder,
        relay_name=args.relay,
    )  # fmt: skip
    async with _mailing(args) as mailing:
        await mailing.add_bounce_box(settings)
    print(f"bounce mailbox {args.name} added ({args.login} at {args.host}:{args.port})")
    return 0


async def bounces_list(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        boxes = await mailing.list_bounce_boxes()
    if not boxes:
        print("no bounce mailboxes (add one with: postfach mailing bounces add)")
    for b in boxes:
        scope = f"relay {b.relay_name}" if b.relay_name else "all relays"
        print(
            f"{b.name}: {b.login} at {b.host}:{b.port} {b.security}, folder {b.folder} -> "
            f"{b.done_folder}, {scope}; last check {_when(b.last_check)} {b.last_result}"
        )
    return 0


async def bounces_remove(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        await mailing.remove_bounce_box(args.name)
    print(f"bounce mailbox {args.name} removed")
    return 0


async def bounces_check(args: argparse.Namespace) -> int:
    async with _mailing(args) as mailing:
        results = await mailing.check_bounces(args.name)
    if not results:
        print("no bounce mailboxes (add one with: postfach mailing bounces add)")
    failed = False
    for name, result in results.items():
        if isinstance(result, BoxResult):
            print(f"{name}: {result.summary()}")
            for address in result.hard:
                print(f"  hard bounce: {address} (no further campaigns)")
        else:
            failed = True
            print(f"{name}: {result}", file=sys.stderr)
    return 1 if failed else 0
