"""SMTP acceptance throughput: Postfix's smtp-source against postfach, Postfix and smtp-sink.

Usage: .venv/bin/python bench/smtp/bench.py [--sessions 20] [--messages 20000]
       [--size 10240] [--runs 1] [--reuse] [--targets postfach,postfix,sink]

Needs Debian's `postfix` package (smtp-source, smtp-sink and Postfix itself) and,
for the Postfix target, root: Postfix's master runs as root and drops to its
mail_owner. Every target gets the same load, one after the other:

- postfach: `postfach serve` in a temporary directory, SQLite, one domain
  (bench.test) and one user (to@bench.test); a 250 means the message is in that
  Inbox, durably.
- postfix: a private Postfix instance under a temporary directory (its own
  config directory, queue and Maildir; nothing chrooted; listening on one free
  127.0.0.1 port only) with bench.test as a virtual mailbox domain delivering
  into one Maildir. Its 250 means the queue file is synced; the bench then waits
  until every message is in the Maildir and prints that rate too. The instance
  is stopped and its directory removed at the end, also on errors.
- sink: `smtp-sink`, which accepts and throws away: the ceiling of the client.

smtp-source opens one connection per message (like MX traffic) unless --reuse.
Each rate is the median of --runs runs; the ratios postfach/Postfix and
postfach/smtp-sink follow, then the command line that reproduces the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from loopback import free_port, wait_greeting  # noqa: E402

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
DOMAIN = "bench.test"
RCPT = f"to@{DOMAIN}"
SENDER = "from@bench-client.test"
TARGETS = ("postfach", "postfix", "sink")
DELIVERY_TIMEOUT = 600.0


def find(tool: str) -> str:
    path = shutil.which(tool, path=SBIN)
    if path is None:
        sys.exit(f"{tool} not found: apt-get install postfix")
    return path


def wait_port(port: int) -> None:
    wait_greeting(port, b"220", "SMTP")


def load(port: int, args: argparse.Namespace) -> float:
    """Runs smtp-source against the port; returns accepted messages per second."""
    cmd = [find("smtp-source"), "-s", str(args.sessions), "-m", str(args.messages)]
    cmd += ["-l", str(args.size), "-t", RCPT, "-f", SENDER, "-M", "bench-client.test"]
    if args.reuse:
        cmd.append("-d")
    start = time.monotonic()
    # smtp-source exits non-zero on any reply it did not expect: the figure is void then.
    subprocess.run([*cmd, f"127.0.0.1:{port}"], check=True)
    return float(args.messages / (time.monotonic() - start))


# -- postfach ---------------------------------------------------------------------------


async def prepare_postfach(url: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.auth.passwords import hash_password_async
    from postfach.store import Store

    store = await Store.connect(url)
    try:
        await store.accounts.add_domain(DOMAIN)
        await store.accounts.add_account(RCPT, await hash_password_async("bench"))
    finally:
        await store.close()


def postfach_config(data: Path, url: str, port: int) -> str:
    off = ("submission", "submissions", "devices", "imap", "imaps", "pop3", "pop3s")
    off += ("http", "https", "managesieve")
    lines = [
        "[server]",
        'hostname = "bench-mx.test"',
        f'data_dir = "{data}"',
        "[storage]",
        f'url = "{url}"',
        "[listeners]",
        *(f'{name} = ""' for name in off),
        f'smtp = "127.0.0.1:{port}"',
        "[limits]",
        "max_connections_per_ip = 1000",
    ]
    return "\n".join(lines) + "\n"


def run_postfach(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-postfach-") as tmp:
        data = Path(tmp)
        port = free_port()
        url = f"sqlite:///{data / 'postfach.db'}"
        config = data / "postfach.toml"
        config.write_text(postfach_config(data, url, port))
        asyncio.run(prepare_postfach(url))
        server = subprocess.Popen(
            [sys.executable, "-m", "postfach", "serve", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            return load(port, args)
        finally:
            server.terminate()
            server.wait(30)


# -- Postfix ----------------------------------------------------------------------------

# master.cf: the SMTP listener on one loopback port, and the services a virtual
# delivery needs; the "n" in the fifth column means not chrooted.
_MASTER_SERVICES = [
    ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
    ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
    ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
    ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
    ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
    ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
    ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
    ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
    ("error", "unix", "-", "-", "n", "-", "-", "error"),
    ("retry", "unix", "-", "-", "n", "-", "-", "error"),
    ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
    ("local", "unix", "-", "n", "n", "-", "-", "local"),
    ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
    ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
    ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
    ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
]


class PostfixInstance:
    """A throw-away Postfix under `base`: started on entry, stopped and removed on exit."""

    def __init__(self, port: int, mailbox_user: str = "nobody") -> None:
        self.postfix = find("postfix")
        self.port = port
        self.base = Path(tempfile.mkdtemp(prefix="bench-postfix-"))
        self.etc = self.base / "etc"
        self.spool = self.base / "spool"
        self.maildir = self.base / "mail" / "bench"
        self.owner = pwd.getpwnam(mailbox_user)

    def main_cf(self) -> dict[str, str]:
        base = self.base
        return {
            "compatibility_level": "3.6",
            "config_directory": str(self.etc),
            "queue_directory": str(self.spool),
            "data_directory": str(base / "data"),
            "maillog_file": str(base / "maillog"),
            "maillog_file_prefixes": str(base),
            "myhostname": "bench-mx.test",
            "mydomain": "bench-mx.test",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": "",
            "biff": "no",
            "smtputf8_enable": "no",
            "smtpd_banner": "$myhostname ESMTP",
            # One virtual domain; every recipient lands in one Maildir (trailing slash).
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": str(base / "mail"),
            "virtual_mailbox_maps": "static:bench/",
            "virtual_uid_maps": f"static:{self.owner.pw_uid}",
            "virtual_gid_maps": f"static:{self.owner.pw_gid}",
            # The load comes from one IP with many connections: no anvil limits.
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
        }

    def master_cf(self) -> str:
        listener = (f"127.0.0.1:{self.port}", "inet", "n", "-", "n", "-", "-", "smtpd")
        return "".join(" ".join(row) + "\n" for row in [listener, *_MASTER_SERVICES])

    def _write(self) -> None:
        for path in (self.etc, self.spool, self.base / "data", self.maildir.parent):
            path.mkdir(parents=True)
        # Postfix's users must reach the tree; mail_owner must own data_directory.
        for path in (self.base, self.etc, self.spool, self.maildir.parent):
            path.chmod(0o755)
        os.chown(self.maildir.parent, self.owner.pw_uid, self.owner.pw_gid)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.base / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        main = "".join(f"{key} = {value}\n" for key, value in self.main_cf().items())
        (self.etc / "main.cf").write_text(main)
        (self.etc / "master.cf").write_text(self.master_cf())

    def _postfix(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.postfix, "-c", str(self.etc), *command], capture_output=True, text=True
        )

    def start(self) -> None:
        self._write()
        for command in ("check", "start"):
            done = self._postfix(command)
            if done.returncode != 0:
                raise RuntimeError(f"postfix {command} failed:\n{done.stderr}{self.log_tail()}")
        wait_port(self.port)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.base / "maillog").read_text().splitlines()[-lines:])
        return ""

    def master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.spool / "pid" / "master.pid").read_text().strip())
        return None

    def delivered(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            return sum(1 for _ in os.scandir(self.maildir / "new"))
        return 0

    def wait_delivered(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (done := self.delivered()) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return done

    def stop(self) -> None:
        """`postfix stop` is asynchronous: wait for master, kill it if it lingers."""
        pid = self.master_pid()
        self._postfix("stop")
        if pid is not None:
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                self._postfix("abort")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PostfixInstance:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_postfix(args: argparse.Namespace) -> float:
    if os.geteuid() != 0:
        sys.exit("the Postfix target must run as root (or leave it out with --targets)")
    with PostfixInstance(free_port()) as postfix:
        start = time.monotonic()
        rate = load(postfix.port, args)
        done = postfix.wait_delivered(args.messages, DELIVERY_TIMEOUT)
        elapsed = time.monotonic() - start
        print(
            f"  postfix delivered {done}/{args.messages} into the Maildir in {elapsed:.1f} s"
            f" ({done / elapsed:.1f}/s end to end)",
            flush=True,
        )
        if done < args.messages:
            print(f"  WARNING: not all delivered; log:\n{postfix.log_tail()}", file=sys.stderr)
        return rate


# -- smtp-sink --------------------------------------------------------------------------


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


# -- main -------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[argparse.Namespace], float]] = {
    "postfach": run_postfach,
    "postfix": run_postfix,
    "sink": run_sink,
}
LABELS = {"postfach": "postfach", "postfix": "Postfix", "sink": "smtp-sink"}


def reproduce(args: argparse.Namespace) -> str:
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else ""
    cmd = [python or sys.executable, "bench/smtp/bench.py", "--sessions", str(args.sessions)]
    cmd += ["--messages", str(args.messages), "--size", str(args.size), "--runs", str(args.runs)]
    if args.reuse:
        cmd.append("--reuse")
    if args.targets != ",".join(TARGETS):
        cmd += ["--targets", args.targets]
    return f"cd {shlex.quote(str(ROOT))} && {shlex.join(cmd)}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=10240, help="payload bytes per message")
    parser.add_argument("--runs", type=int, default=1, help="runs per target; medians count")
    parser.add_argument("--reuse", action="store_true", help="smtp-source -d: keep connections")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    args = parser.parse_args()
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown or args.runs < 1:
        parser.error(f"--targets takes {','.join(TARGETS)}; --runs at least 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so that `finally` stops Postfix on SIGTERM too


@contextlib.contextmanager
def cleanup_on_sigterm() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    args = parse_args()
    targets = [t for t in TARGETS if t in args.targets.split(",")]
    rates: dict[str, list[float]] = {t: [] for t in targets}
    with cleanup_on_sigterm():
        for run in range(1, args.runs + 1):
            for target in targets:
                rate = RUNNERS[target](args)
                rates[target].append(rate)
                print(f"run {run} {LABELS[target]:<10} {rate:8.1f} msgs/s", flush=True)
    median = {t: statistics.median(r) for t, r in rates.items()}
    mode = "one connection per message" if not args.reuse else "connections reused"
    print(f"\n{args.messages} messages of {args.size} B, {args.sessions} sessions, {mode}")
    print(f"medians of {args.runs} run(s):")
    for target, rate in median.items():
        print(f"  {LABELS[target]:<10} {rate:8.1f} msgs/s")
    for other in ("postfix", "sink"):
        if "postfach" in median and other in median:
            ratio = median["postfach"] / median[other]
            print(f"  postfach / {LABELS[other]}: {ratio:.2f}")
    print(f"reproduce: {reproduce(args)}")


if __name__ == "__main__":
    main()
