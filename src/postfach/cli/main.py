"""`postfach` entry point: argument parsing and one-line errors.

Every command takes --config; without it POSTFACH_CONFIG, then ./postfach.toml,
then the built-in defaults. Errors are one line on stderr and exit status 1.

`postfach serve` registers only itself: the other commands' modules import
the store and more, which the supervisor of `serve --workers N` must not
hold (cli/serve.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from postfach import __version__
from postfach.cli import serve
from postfach.config import ConfigError
from postfach.store.errors import StoreError
from postfach.workers import StartError

__all__ = ["CliError", "main"]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


class CliError(Exception):
    """A one-line error for the operator."""


def build_parser(only_serve: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postfach",
        description="postfach: a complete self-hosted mail service (SMTP, IMAP4, POP3, web).",
    )
    parser.add_argument("--version", action="version", version=f"postfach {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $POSTFACH_CONFIG, then ./postfach.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if only_serve:
        serve.register(sub, common)
        return parser
    from postfach.cli import (
        admin,
        cert,
        clientsetup,
        init,
        mailing,
        moving,
        queue,
        sieve,
        webadmin,
    )

    init.register(sub, common)
    serve.register(sub, common)
    admin.register(sub, common)
    for module in (queue, mailing, clientsetup, webadmin, moving, cert, sieve):
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only_serve=argv[:1] == ["serve"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "command", "") == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Command = args.handler
    try:
        return _run(handler(args))
    except (CliError, ConfigError, StoreError, StartError, ValueError) as exc:
        print(f"postfach: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port in use, a directory not writable: say which
        print(f"postfach: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result
