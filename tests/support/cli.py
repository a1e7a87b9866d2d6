"""The command line, run in-process."""

from __future__ import annotations

import asyncio
import io
import sys

from postfach.cli.main import main

__all__ = ["run_cli"]


async def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str]:
    """`postfach ARGV` in a thread with its own event loop; (exit status, stdout+stderr)."""

    def call() -> tuple[int, str]:
        out = io.StringIO()
        old = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, out
        try:
            status = main(argv)
        finally:
            sys.stdin, sys.stdout, sys.stderr = old
        return status, out.getvalue()

    return await asyncio.to_thread(call)
