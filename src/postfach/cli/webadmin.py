"""`postfach admin token NAME | --list | --revoke NAME`: bearer tokens for the
admin API (web/admin_api.py). A new token is printed once; only its hash is
stored."""

from __future__ import annotations

import argparse
import datetime
import secrets
from typing import Any

from postfach.cli.common import open_store

__all__ = ["TOKEN_PREFIX", "register"]

TOKEN_PREFIX = "pfat_"  # noqa: S105 - "postfach admin token", easy to spot if leaked


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    admin = sub.add_parser("admin", help="the admin API (HTTP, JSON)")
    asub = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = asub.add_parser(
        "token",
        parents=[common],
        help="make, list or revoke admin API tokens",
        description="postfach admin token NAME prints a new bearer token once; "
        "--list shows the names; --revoke NAME ends one.",
    )
    p.add_argument("name", nargs="?", help="what the token is for, e.g. 'provisioning'")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--list", action="store_true", help="list the tokens")
    group.add_argument("--revoke", metavar="NAME", help="revoke a token")
    p.set_defaults(handler=admin_token)


async def admin_token(args: argparse.Namespace) -> int:
    if args.list:
        return await _list(args)
    if args.revoke:
        async with open_store(args) as (_config, store):
            await store.web.revoke_admin_token(args.revoke)
        print(f"revoked the admin token {args.revoke!r}")
        return 0
    if not args.name:
        raise ValueError("name the token: postfach admin token NAME (or --list, --revoke NAME)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with open_store(args) as (_config, store):
        await store.web.add_admin_token(args.name, token)
    print(f"admin API token {args.name!r} (shown only now; send it as 'Authorization: Bearer'):")
    print(token)
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        tokens = await store.web.list_admin_tokens()
    if not tokens:
        print("no admin tokens")
    for token in tokens:
        created = datetime.datetime.fromtimestamp(token.created).strftime("%Y-%m-%d %H:%M")
        used = (
            datetime.datetime.fromtimestamp(token.last_used).strftime("%Y-%m-%d %H:%M")
            if token.last_used
            else "never"
        )
        print(f"{token.name}  created {created}  last used {used}")
    return 0
