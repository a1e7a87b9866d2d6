"""`postfach import imap|mbox|maildir`, `export`, `backup`, `restore`: moving mail.

The work is postfach/moving/'s; here are the arguments, the password prompt
and the one-line summaries. The source server's password comes from one line
of stdin (--password-stdin) or a prompt, and is never echoed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from pathlib import Path
from typing import Any

from postfach.cli.common import format_size, open_store
from postfach.config import load_config
from postfach.moving import backup as backups
from postfach.moving.file_import import export_account, import_files
from postfach.moving.files import maildir_folders, mbox_folders
from postfach.moving.imap_import import import_imap, source_key
from postfach.moving.imap_source import ImapSource, SourceError
from postfach.moving.progress import Bar
from postfach.moving.target import ImportFailed, Target
from postfach.store.backup import sqlite_path

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    imp = sub.add_parser("import", help="copy mail in from another server or from files")
    isub = imp.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = isub.add_parser(
        "imap", parents=[common], help="copy every folder of another IMAP server (resumable)"
    )
    p.add_argument("address", help="the postfach account to copy into")
    p.add_argument("--from", dest="server", required=True, metavar="HOST:PORT")
    p.add_argument(
        "--security",
        choices=("ssl", "starttls", "none"),
        help="default: ssl on port 993, else starttls",
    )
    p.add_argument("--user", help="login at the source (default: ADDRESS)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--folders", nargs="+", default=(), metavar="FOLDER", help="only these")
    p.add_argument(
        "--insecure", action="store_true", help="do not verify the source's TLS certificate"
    )
    p.set_defaults(handler=import_imap_command)
    for kind, what in (
        ("mbox", "an mbox file, or a directory of them"),
        ("maildir", "a Maildir++ (Dovecot) or Thunderbird maildir tree"),
    ):
        p = isub.add_parser(kind, parents=[common], help=f"copy {what} (resumable)")
        p.add_argument("address", help="the postfach account to copy into")
        p.add_argument("path", type=Path)
        p.set_defaults(handler=import_files_command, kind=kind)
    p = sub.add_parser("export", parents=[common], help="write an account's mail to files")
    p.add_argument("address")
    p.add_argument("--to", dest="directory", required=True, type=Path, metavar="DIR")
    p.add_argument("--format", choices=("maildir", "mbox"), default="maildir")
    p.set_defaults(handler=export_command)
    p = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the whole store, server running"
    )
    p.add_argument("--to", dest="file", required=True, type=Path, metavar="FILE")
    p.set_defaults(handler=backup_command)
    p = sub.add_parser(
        "restore", parents=[common], help="put a backup back (stop the server first)"
    )
    p.add_argument("file", type=Path)
    p.add_argument("--force", action="store_true", help="replace the store there is")
    p.set_defaults(handler=restore_command)


def _server(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--from {text}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _source_password(from_stdin: bool, prompt: str) -> str:
    password = sys.stdin.readline().rstrip("\r\n") if from_stdin else getpass.getpass(prompt)
    if not password:
        raise ValueError("an empty password is not allowed")
    return password


async def import_imap_command(args: argparse.Namespace) -> int:
    host, port = _server(args.server)
    security = args.security or ("ssl" if port == 993 else "starttls")
    user = args.user or args.address
    password = _source_password(args.password_stdin, f"Password of {user} at {host}: ")
    source = ImapSource(host, port, security, user, password, verify=not args.insecure)
    started = time.monotonic()
    async with open_store(args) as (_config, store):
        try:
            target = await Target.of(store, args.address)
            await _to_thread(source.connect)
            with Bar() as bar:
                key = source_key(user, host, port)
                result = await import_imap(source, target, key, bar, args.folders)
        except (SourceError, ImportFailed) as exc:
            raise ValueError(str(exc)) from None
        finally:
            await _to_thread(source.close)
    seconds = time.monotonic() - started
    print(
        f"imported {result.copied} message(s), {format_size(result.octets)} in "
        f"{seconds:.1f}s ({result.copied / max(seconds, 1e-6):.0f}/s); "
        f"{result.skipped} already there; {len(result.folders)} folder(s)"
    )
    return 0


async def _to_thread(fn: Any) -> None:
    await asyncio.to_thread(fn)


async def import_files_command(args: argparse.Namespace) -> int:
    find = mbox_folders if args.kind == "mbox" else maildir_folders
    folders = await asyncio.to_thread(find, args.path)
    started = time.monotonic()
    async with open_store(args) as (_config, store):
        try:
            target = await Target.of(store, args.address)
            with Bar() as bar:
                result = await import_files(target, folders, bar)
        except ImportFailed as exc:
            raise ValueError(str(exc)) from None
    seconds = time.monotonic() - started
    print(
        f"imported {result.copied} message(s), {format_size(result.octets)} in "
        f"{seconds:.1f}s; {result.skipped} already there; {result.folders} folder(s)"
    )
    return 0


async def export_command(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        account = await store.accounts.get_account(args.address)
        if account is None:
            raise ValueError(f"no account {args.address}")
        with Bar() as bar:
            result = await export_account(store, account, args.directory, args.format, bar)
    print(
        f"exported {result.messages} message(s), {format_size(result.octets)} in "
        f"{result.folders} folder(s) to {args.directory} ({args.format})"
    )
    return 0


async def backup_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    how, summary = await backups.backup(config.storage.url, args.file)
    size = format_size(args.file.stat().st_size)
    print(f"backed up to {args.file} ({size}, {how})")
    if summary is not None:
        print(summary.line())
    return 0


async def restore_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if not args.file.is_file():
        raise ValueError(f"{args.file}: no such file")
    database = sqlite_path(config.storage.url)
    there = database.exists() if database is not None else True
    if there and not args.force:
        where = database or "the PostgreSQL database"
        raise ValueError(f"{where} holds a store already: stop the server, then pass --force")
    summary = await backups.restore(args.file, config.storage.url)
    print(f"restored {args.file}, verified: {summary.line()}")
    return 0
