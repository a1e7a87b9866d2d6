"""`postfach queue list | retry [ID] | delete ID`: the outbound queue for operators."""

from __future__ import annotations

import argparse
from typing import Any

from postfach.cli.common import open_store
from postfach.queue import admin
from postfach.store.api import NotFound

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    queue = sub.add_parser("queue", help="the outbound mail queue")
    qsub = queue.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = qsub.add_parser("list", parents=[common], help="list queued messages")
    p.set_defaults(handler=queue_list)
    p = qsub.add_parser("retry", parents=[common], help="try queued messages again now")
    p.add_argument("id", nargs="?", type=int, help="one queue ID (default: all)")
    p.set_defaults(handler=queue_retry)
    p = qsub.add_parser("delete", parents=[common], help="drop a queued message unsent")
    p.add_argument("id", type=int)
    p.set_defaults(handler=queue_delete)


async def queue_list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        entries = await admin.list_entries(store)
    print(admin.format_entries(entries))
    return 0


async def queue_retry(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        count = await admin.retry(store, args.id)
    print(f"{count} recipient(s) will be tried again now")
    return 0


async def queue_delete(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        if not await admin.delete(store, args.id):
            raise NotFound(f"no queued message {args.id}")
    print(f"deleted queued message {args.id}")
    return 0
