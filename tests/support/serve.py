"""`postfach serve` as a real process tree, for the tests that kill, stall or fill it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from postfach.auth.passwords import hash_password_async
from postfach.store import Store

__all__ = ["prepare_user", "start_serve"]


async def prepare_user(url: str, address: str, password: str) -> None:
    """The store at `url` with the domain of `address` and that one account."""
    store = await Store.connect(url)
    try:
        await store.accounts.add_domain(address.rpartition("@")[2])
        await store.accounts.add_account(address, await hash_password_async(password))
    finally:
        await store.close()


def start_serve(
    config: Path, log: Path, workers: int = 2, *, own_session: bool = False
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """Starts `postfach serve --workers N` and waits for its banner (every listener
    bound, every worker ready); returns the process and the bound port of each
    listener. `own_session`: a process group of its own, so a test can kill it whole."""
    process = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--config", str(config),
         "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        text=True,
        start_new_session=own_session,
    )  # fmt: skip
    ports: dict[str, int] = {}
    assert process.stdout is not None
    for line in process.stdout:
        words = line.split()
        if len(words) == 2 and ":" in words[1]:
            ports[words[0]] = int(words[1].rsplit(":", 1)[1])
        if line.startswith("stop with"):
            break
    if process.poll() is not None or not ports:
        process.kill()
        process.wait(30)
        raise AssertionError(f"serve did not start: {log.read_text()[-3000:]}")
    return process, ports
