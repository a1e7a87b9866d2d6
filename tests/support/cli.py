"""The command line, run in-process (`run_cli`) or as its own process (`run_postfach`)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

from postfach.cli.main import main

__all__ = ["postfach_ok", "run_cli", "run_postfach"]


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


def run_postfach(
    cwd: Path, *args: str, stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`postfach ARGS` as its own process in `cwd`, as an operator types it."""
    env = {**os.environ, "POSTFACH_CONFIG": ""}
    return subprocess.run(
        [sys.executable, "-m", "postfach", *args],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def postfach_ok(cwd: Path, *args: str, stdin: str = "") -> str:
    """`postfach ARGS` that must succeed; its standard output."""
    result = run_postfach(cwd, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout
