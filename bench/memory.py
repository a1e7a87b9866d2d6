"""Memory of `postfach serve --workers 2`: RSS, PSS and USS of each process.

Starts `postfach serve --config --workers N` (default 2) in a temporary
directory with every listener on a loopback port (SQLite there, or the
PostgreSQL database of `--storage-url`, emptied first) and M accounts
(default 100) whose INBOX holds 20 messages. It prints, for the supervisor
and each worker, from /proc/PID/status and /proc/PID/smaps_rollup:

- RSS: every page the process maps that is in memory, shared ones counted in full;
- PSS: shared pages divided among the processes that share them (the honest
  share of each process; the PSS of the tree is what the tree costs);
- USS: the pages the process alone has (what ending it frees).

at rest (the server started, nobody connected), then with N IMAP connections
open (default 400: each LOGIN and SELECT INBOX as account 1 + n % M, so that
every worker sees every account), then after those connections have logged
out (what the server keeps of the accounts it has seen: caches).

    .venv/bin/python bench/memory.py
    .venv/bin/python bench/memory.py --logins 400 --accounts 100 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "imap"))

from client import ImapClient  # noqa: E402
from servers import (  # noqa: E402
    PASSWORD,
    ROOT,
    empty_postgres,
    fill_postfach,
    message,
    raise_nofile,
    user_name,
)

LISTENERS = (
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "http",
    "https",
    "managesieve",
)


@dataclass(frozen=True)
class Figures:
    rss: int  # KB
    pss: int
    uss: int


def figures(pid: int) -> Figures:
    """RSS, PSS and USS of one process in KB (smaps_rollup: Linux 4.14 and later)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            fields[name] = int(words[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return Figures(fields.get("Rss", 0), fields.get("Pss", 0), uss)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def worker_index(pid: int) -> str:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    marker = b'"index": '
    at = cmdline.find(marker)
    if at < 0:
        return "?"
    return cmdline[at + len(marker) :].split(b",")[0].decode()


def report(title: str, supervisor: int) -> None:
    rows = [("supervisor", supervisor)]
    rows += [(f"worker {worker_index(pid)}", pid) for pid in children(supervisor)]
    print(f"\n{title}")
    print(f"  {'process':<12} {'pid':>7} {'RSS MB':>8} {'PSS MB':>8} {'USS MB':>8}")
    total = Figures(0, 0, 0)
    for name, pid in rows:
        f = figures(pid)
        total = Figures(total.rss + f.rss, total.pss + f.pss, total.uss + f.uss)
        print(f"  {name:<12} {pid:>7} {_mb(f)}")
    print(f"  {'tree':<12} {'':>7} {_mb(total)}", flush=True)


def _mb(f: Figures) -> str:
    return f"{f.rss / 1024:>8.1f} {f.pss / 1024:>8.1f} {f.uss / 1024:>8.1f}"


def write_config(work: Path, url: str, workers: int, logins: int) -> Path:
    data = work / "data"
    data.mkdir()
    listeners = "\n".join(f'{name} = "127.0.0.1:0"' for name in LISTENERS)
    config = work / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = {workers}\n'
        f'[storage]\nurl = "{url}"\n[listeners]\n{listeners}\n'
        f"[auth]\nallow_plaintext = true\n"
        f"[limits]\nmax_connections_per_ip = {logins + 100}\n"
    )
    return config


def start(config: Path, log: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    """`postfach serve`, until its banner's last line; (process, IMAP port)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--config", str(config),
         "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    port = 0
    for line in process.stdout:
        words = line.split()
        if len(words) == 2 and words[0] == "imap":
            port = int(words[1].rsplit(":", 1)[1])
        if line.startswith("stop with"):
            break
    if process.poll() is not None or not port:
        process.kill()
        raise SystemExit(f"serve did not start:\n{log.read_text()[-3000:]}")
    return process, port


async def login(port: int, n: int, accounts: int) -> ImapClient:
    client = await ImapClient.connect("127.0.0.1", port)
    user = user_name(1 + n % accounts).encode()
    await client.command(b'LOGIN "%s" "%s"' % (user, PASSWORD.encode()))
    await client.command(b"SELECT INBOX")
    return client


async def logins(port: int, args: argparse.Namespace, supervisor: int) -> None:
    gate = asyncio.Semaphore(args.parallel)

    async def one(n: int) -> ImapClient:
        async with gate:
            return await login(port, n, args.accounts)

    started = time.perf_counter()
    clients = await asyncio.gather(*(one(n) for n in range(args.logins)))
    took = time.perf_counter() - started
    await asyncio.sleep(args.settle)
    report(
        f"with {len(clients)} IMAP connections open (LOGIN + SELECT INBOX over "
        f"{args.accounts} accounts, {took:.1f} s)",
        supervisor,
    )
    for client in clients:
        with contextlib.suppress(Exception):
            await client.command(b"LOGOUT")
        client.close()
    await asyncio.sleep(args.settle)
    report("after those connections logged out", supervisor)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20, help="in each INBOX")
    parser.add_argument("--logins", type=int, default=400, help="IMAP connections opened")
    parser.add_argument("--parallel", type=int, default=50, help="logins in flight")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--storage-url", default="", help="postgresql://… (default: SQLite)")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("reads /proc/PID/smaps_rollup: Linux only")
    raise_nofile(args.logins * 2 + 1000)
    with tempfile.TemporaryDirectory(prefix="postfach-memory-") as tmp:
        work = Path(tmp)
        url = args.storage_url or f"sqlite:///{work / 'postfach.db'}"
        if url.startswith("postgresql"):
            asyncio.run(empty_postgres(url))

        def fill(i: int) -> list[bytes]:
            return [message(i, n, paragraphs=3) for n in range(1, args.messages + 1)]

        asyncio.run(fill_postfach(url, args.accounts, fill))
        config = write_config(work, url, args.workers, args.logins)
        process, port = start(config, work / "serve.log", args.workers)
        try:
            time.sleep(args.settle)
            report("at rest (started, nobody connected)", process.pid)
            asyncio.run(logins(port, args, process.pid))
        finally:
            stop(process)
    storage = f" --storage-url {args.storage_url}" if args.storage_url else ""
    print(
        f"\nreproduce: PYTHONPATH=src .venv/bin/python bench/memory.py --workers {args.workers} "
        f"--accounts {args.accounts} --messages {args.messages} --logins {args.logins}{storage}"
        f"\n(python {sys.version.split()[0]}, pid {os.getpid()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
