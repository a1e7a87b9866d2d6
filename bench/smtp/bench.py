"""SMTP acceptance throughput: Postfix's smtp-source against postfach (and smtp-sink).

Usage: .venv/bin/python bench/smtp/bench.py [--sessions 20] [--messages 20000] [--size 10240]
       [--reuse]
Needs Debian's `postfix` package for smtp-source and smtp-sink. postfach runs as
`postfach serve` in a temporary directory with one domain (bench.test) and one
user (to@bench.test); every message is delivered into that Inbox, durably.
Prints one line per target and the ratio postfach / smtp-sink.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def find(tool: str) -> str:
    path = shutil.which(tool, path=SBIN)
    if path is None:
        sys.exit(f"{tool} not found: apt-get install postfix")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def load(port: int, args: argparse.Namespace) -> float:
    cmd = [
        find("smtp-source"),
        "-s",
        str(args.sessions),
        "-m",
        str(args.messages),
        "-l",
        str(args.size),
        "-t",
        "to@bench.test",
        "-f",
        "from@bench.test",
        "-M",
        "bench-client.test",
    ]
    if args.reuse:
        cmd.append("-d")
    start = time.monotonic()
    subprocess.run([*cmd, f"127.0.0.1:{port}"], check=True)
    return args.messages / (time.monotonic() - start)


async def prepare(data: Path, url: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.auth.passwords import hash_password_async
    from postfach.store import Store

    store = await Store.connect(url)
    await store.add_domain("bench.test")
    await store.add_account("to@bench.test", await hash_password_async("bench"))
    await store.close()


def run_postfach(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        url = f"sqlite:///{data / 'postfach.db'}"
        (data / "postfach.toml").write_text(
            f'[server]\nhostname = "bench-mx.test"\ndata_dir = "{data}"\n'
            f'[storage]\nurl = "{url}"\n'
            "[listeners]\n"
            + "".join(
                f'{name} = ""\n'
                for name in ("submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http")
            )
            + f'smtp = "127.0.0.1:{port}"\n'
            "[limits]\nmax_connections_per_ip = 1000\n"
        )
        asyncio.run(prepare(data, url))
        server = subprocess.Popen(
            [sys.executable, "-m", "postfach", "serve", "--config", str(data / "postfach.toml")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            return load(port, args)
        finally:
            server.terminate()
            server.wait(10)


def run_sink(args: argparse.Namespace) -> float:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([find("smtp-sink"), *user, "-m", "1024", f"127.0.0.1:{port}", "1024"])
    try:
        wait_port(port)
        return load(port, args)
    finally:
        sink.terminate()
        sink.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--reuse", action="store_true", help="smtp-source -d: keep connections")
    args = parser.parse_args()
    postfach = run_postfach(args)
    print(f"postfach:  {postfach:8.1f} msgs/s", flush=True)
    sink = run_sink(args)
    print(f"smtp-sink: {sink:8.1f} msgs/s", flush=True)
    print(f"postfach / smtp-sink: {postfach / sink:.2f}")


if __name__ == "__main__":
    main()
