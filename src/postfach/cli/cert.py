"""`postfach cert`: which certificate each name gets, until when; `cert renew` orders now."""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from postfach.cli.common import open_store
from postfach.config import Config
from postfach.net.certs import CertInfo, covers
from postfach.net.tls import cert_store

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "cert",
        parents=[common],
        help="show the certificates served: for which names, by whom, until when",
        description="Shows the certificate each name of the server gets (chosen by SNI; "
        "'(no SNI)' is what clients naming no server get). `cert renew` orders every "
        "certificate from the ACME CA now; the server must be running, as it answers "
        "the CA's challenges on ports 80/443.",
    )
    p.set_defaults(handler=cert_show)
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    r = csub.add_parser(
        "renew", parents=[common], help="order new certificates from the ACME CA now"
    )
    r.set_defaults(handler=cert_renew)


def _describe(info: CertInfo) -> str:
    until = info.not_after.strftime("%Y-%m-%d %H:%M UTC")
    issuer = "self-signed" if info.self_signed else f"issued by {info.issuer}"
    return f"{issuer}, until {until} (names: {', '.join(info.names)})"


def _acme_line(config: Config) -> str:
    if not config.acme.active:
        return "ACME: off (set [acme] email, or enabled = true)"
    hours = config.acme.check_interval / 3600
    return f"ACME: on, {config.acme.directory}, checked every {hours:g} h"


async def cert_show(args: argparse.Namespace) -> int:
    from postfach.acme.renewal import wanted_groups  # the ACME library loads only here

    async with open_store(args) as (config, store):
        domains = [domain.name for domain in await store.accounts.list_domains()]
    certs = cert_store(config)
    print(_acme_line(config))
    names = [name for group in wanted_groups(config, domains) for name in group]
    width = max(len(name) for name in [*names, "(no SNI)"])
    for name in [*names, None]:
        path, info = certs.info_for(name)
        label = name or "(no SNI)"
        mismatch = name is not None and not any(covers(p, name) for p in info.names)
        warning = "  NOT VALID FOR THIS NAME" if mismatch else ""
        print(f"{label:<{width}}  {path}: {_describe(info)}{warning}")
    return 0


async def cert_renew(args: argparse.Namespace) -> int:
    from postfach.acme.renewal import order_due

    async with open_store(args) as (config, store):
        if not config.acme.active:
            raise ValueError("ACME is off: set [acme] email (or enabled = true) in the config")
        owner = f"cli:{socket.gethostname()}:{os.getpid()}"
        result = await order_due(config, store, owner, force=True)
    if result.busy:
        raise ValueError("another process is ordering certificates now; try again later")
    for path in result.issued:
        print(f"issued {path}")
    for line in result.failed:
        print(f"failed: {line}")
    return 1 if result.failed else 0
