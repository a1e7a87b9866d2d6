"""Helpers shared by the CLI commands: config, store, passwords."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import re
import sys
from collections.abc import AsyncIterator

from postfach.auth.passwords import password_problem
from postfach.config import Config, load_config
from postfach.store import Store

__all__ = ["open_store", "parse_size", "read_password", "switch"]


@contextlib.asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[tuple[Config, Store]]:
    config = load_config(getattr(args, "config", None))
    store = await Store.connect(config.storage.url)
    try:
        yield config, store
    finally:
        await store.close()


def read_password(from_stdin: bool, prompt: str = "Password: ", account: bool = True) -> str:
    """From one line of stdin, or asked twice at the terminal; never echoed.
    `account`: held to the rule for accounts' passwords (auth.passwords), which a
    relay's login to another server is not. Errors are one line (ValueError)."""
    no_password = ValueError("no password given (use --password-stdin to pipe one)")
    if not from_stdin and not sys.stdin.isatty():
        raise no_password  # no terminal to ask on: getpass would read stdin, echoing
    try:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(prompt)
            if getpass.getpass("Again: ") != password:
                raise ValueError("the passwords differ")
    except EOFError:  # Ctrl-D at the prompt
        raise no_password from None
    if not password:
        raise ValueError("an empty password is not allowed")
    problem = password_problem(password) if account else None
    if problem is not None:
        raise ValueError(problem)
    return password


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """`500M`, `2G`, `1048576`; 0 or `unlimited` for no quota."""
    if text.strip().lower() in {"0", "unlimited", "none"}:
        return 0
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 500M, 2G, unlimited)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def switch(text: str, key: str) -> bool:
    value = text.strip().lower()
    if value in {"on", "yes", "true", "1"}:
        return True
    if value in {"off", "no", "false", "0"}:
        return False
    raise ValueError(f"{key}={text}: expected on or off")


def format_size(octets: int) -> str:
    for unit, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if octets >= factor:
            return f"{octets / factor:.1f}{unit}"
    return str(octets)
