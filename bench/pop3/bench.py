"""POP3 download throughput: postfach against Dovecot, in the same run.

Each of 10 concurrent clients logs in to its own mailbox of 200 messages
(about 10 KB each) and runs USER, PASS, STAT, UIDL, RETR 1..200, QUIT. The
load runs in its own process (uvloop when installed); each server runs in its
own processes. Prints messages per second for both servers and the ratio
(goal: postfach at least 0.7 of Dovecot).

    .venv/bin/python bench/pop3/bench.py                 # both servers
    .venv/bin/python bench/pop3/bench.py --only postfach
    .venv/bin/python bench/pop3/bench.py --clients 20 --messages 200 --rounds 5

Besides msgs/s it prints the server's CPU time per message (all its processes
and threads): on a busy machine that figure is steadier than the rate, and it
shows what a single-process server can reach against Dovecot's process per
session. postfach's rate depends on the store offering `message_listing` and
`read_raws` (see pop3/maildrop.py and pop3/reader.py); without them every RETR
costs one store query.

Dovecot comes from Debian's `dovecot-pop3d`; the bench writes a private
config (loopback, a free port, passwd-file users, Maildir) in a temporary
directory and never touches the system's Dovecot. Without it, only postfach
is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from loopback import free_port, wait_greeting  # noqa: E402

PASSWORD = "pass"
DOMAIN = "example.org"
MESSAGES = [200]  # set from --messages

PARAGRAPH = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
    b"tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim\r\n"
)


def message(user: int, n: int) -> bytes:
    """About 10 KB, CRLF, with a line that needs dot-stuffing."""
    body = b".a line that starts with a dot\r\n" + PARAGRAPH * 70
    return (
        b"Return-Path: <sender@example.net>\r\n"
        b"From: Sender <sender@example.net>\r\nTo: user%d@example.org\r\n"
        b"Subject: bench message %d\r\nMessage-ID: <%d.%d@bench.example.net>\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n" % (user, n, user, n)
    ) + body


def wait_port(port: int) -> None:
    wait_greeting(port, b"+OK", "POP3")


# -- the load ---------------------------------------------------------------------


class Pop3Client:
    """Just enough POP3 to download a maildrop, with a large read buffer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()

    async def _more(self) -> None:
        data = await self.reader.read(256 * 1024)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    async def status(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            await self._more()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        if not line.startswith(b"+OK"):
            raise RuntimeError(line.decode(errors="replace"))
        return line

    async def body(self) -> int:
        """Reads a multi-line body up to CRLF.CRLF; returns its length."""
        if self.buf.startswith(b".\r\n"):
            del self.buf[:3]
            return 0
        start = 0
        while (end := self.buf.find(b"\r\n.\r\n", start)) < 0:
            start = max(len(self.buf) - 4, 0)
            await self._more()
        del self.buf[: end + 5]
        return end + 2

    async def command(self, line: bytes) -> bytes:
        self.writer.write(line + b"\r\n")
        return await self.status()


async def session(port: int, user: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Pop3Client(reader, writer)
    try:
        await client.status()
        await client.command(b"USER " + user.encode())
        await client.command(b"PASS " + PASSWORD.encode())
        count = int((await client.command(b"STAT")).split()[1])
        await client.command(b"UIDL")
        await client.body()
        for n in range(1, count + 1):
            await client.command(b"RETR %d" % n)
            await client.body()
        await client.command(b"QUIT")
        return count
    finally:
        writer.close()


async def load(port: int, users: list[str], rounds: int) -> list[float]:
    """Messages per second for each round (all clients at once)."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        counts = await asyncio.gather(*(session(port, user) for user in users))
        rates.append(sum(counts) / (time.perf_counter() - start))
    return rates


def client_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    users = args.users.split(",")
    rates = run(load(args.port, users, args.rounds))
    print(" ".join(f"{r:.1f}" for r in rates))


def run_load(port: int, users: list[str], rounds: int) -> list[float]:
    out = subprocess.run(
        [sys.executable, str(HERE), "--client", "--port", str(port), "--users", ",".join(users),
         "--rounds", str(rounds)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [float(x) for x in out.split()]


# -- postfach ---------------------------------------------------------------------


async def fill_postfach(url: str, clients: int, messages: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.auth.passwords import hash_password_async
    from postfach.store import Store

    store = await Store.connect(url)
    try:
        await store.accounts.add_domain(DOMAIN)
        digest = await hash_password_async(PASSWORD)
        for i in range(1, clients + 1):
            account = await store.accounts.add_account(f"user{i}@{DOMAIN}", digest)
            inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            for n in range(1, messages + 1):
                await store.mail.append(inbox.id, message(i, n))
        # Indexed for SEARCH before the server starts, as mail that has been
        # there a while: the rounds measure POP3, not the fill's indexing.
        while await store.mail.index_pending(1000):
            pass
    finally:
        await store.close()


def start_postfach(
    work: Path, clients: int, messages: int, workers: int = 0
) -> tuple[subprocess.Popen[bytes], int]:
    """`postfach serve` with only pop3 and `workers` processes (0: its default)."""
    port = free_port()
    data = work / "postfach"
    data.mkdir()
    url = f"sqlite:///{data / 'postfach.db'}"
    listeners = "\n".join(
        f'{name} = ""' for name in
        ("smtp", "submission", "submissions", "imap", "imaps", "pop3s", "http", "https", "devices",
         "managesieve")
    )
    config = data / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = {workers}\n'
        f'[storage]\nurl = "{url}"\n'
        f'[listeners]\npop3 = "127.0.0.1:{port}"\n{listeners}\n'
        "[auth]\nallow_plaintext = true\n"
    )
    asyncio.run(fill_postfach(url, clients, messages))
    proc = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(data / "serve.log", "wb"),  # noqa: SIM115
    )
    wait_port(port)
    return proc, port


# -- Dovecot ----------------------------------------------------------------------


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def start_dovecot(work: Path, clients: int, messages: int) -> tuple[subprocess.Popen[bytes], int]:
    binary = dovecot_binary()
    assert binary is not None
    port = free_port()
    base = work / "dovecot"
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir(parents=True)
    base.chmod(0o755)
    work.chmod(0o755)
    root = os.geteuid() == 0
    owner = pwd.getpwnam("dovecot") if root else pwd.getpwuid(os.geteuid())
    login_user = "dovenull" if root else owner.pw_name
    group = owner.pw_gid
    lines = []
    for i in range(1, clients + 1):
        home = base / "mail" / f"user{i}"
        new = home / "Maildir" / "new"
        for sub in ("new", "cur", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True)
        for n in range(1, messages + 1):
            (new / f"{1700000000 + n}.M{n}P1.bench").write_bytes(message(i, n))
        lines.append(f"user{i}@{DOMAIN}:{{PLAIN}}{PASSWORD}:{owner.pw_uid}:{group}::{home}")
    (base / "users").write_text("\n".join(lines) + "\n")
    if root:
        subprocess.run(["chown", "-R", f"{owner.pw_uid}:{group}", str(base / "mail")], check=True)
    (base / "dovecot.conf").write_text(
        f"base_dir = {base}/run\nstate_dir = {base}/state\n"
        f"log_path = {base}/dovecot.log\ninstance_name = postfach-bench\n"
        "protocols = pop3\nlisten = 127.0.0.1\nssl = no\n"
        "disable_plaintext_auth = no\nauth_mechanisms = plain login\n"
        f"default_login_user = {login_user}\ndefault_internal_user = {owner.pw_name}\n"
        f"default_internal_group = {pwd.getpwuid(owner.pw_uid).pw_name}\n"
        f"first_valid_uid = {owner.pw_uid}\nlast_valid_uid = 0\nfirst_valid_gid = 0\n"
        "mail_location = maildir:~/Maildir\nmail_max_userip_connections = 1000\n"
        f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {base}/users\n}}\n"
        f"userdb {{\n  driver = passwd-file\n  args = {base}/users\n}}\n"
        "service anvil {\n  chroot =\n}\n"
        "service pop3-login {\n  chroot =\n"
        f"  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n"
        "  inet_listener pop3s {\n    port = 0\n  }\n}\n"
    )
    proc = subprocess.Popen([binary, "-F", "-c", str(base / "dovecot.conf")])
    wait_port(port)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- main -------------------------------------------------------------------------


def _cpu(fields: list[str]) -> float:
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds of a server process, its live children and the children it reaped."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += _cpu(fields)
    return total


def measure(name: str, pid: int, port: int, users: list[str], rounds: int) -> float:
    run_load(port, users, 1)  # warm-up: caches, indexes, the auth cache
    cpu = server_cpu(pid)
    rates = run_load(port, users, rounds)
    cpu = server_cpu(pid) - cpu
    per_msg = cpu / (rounds * len(users) * MESSAGES[0]) * 1e6
    print(f"{name:<9} msgs/s per round: {', '.join(f'{r:.0f}' for r in rates)}"
          f"  median {statistics.median(rates):.0f}  server CPU {per_msg:.0f} us/msg")
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["postfach", "dovecot"])
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="postfach worker processes (0: its default, CPU cores + 1)",
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--users", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0
    users = [f"user{i}@{DOMAIN}" for i in range(1, args.clients + 1)]
    MESSAGES[0] = args.messages
    print(f"{args.clients} clients, {args.messages} messages of ~10 KB each, "
          f"{args.rounds} rounds after a warm-up; {os.cpu_count()} CPUs")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pop3bench-") as tmp:
        work = Path(tmp)
        if args.only != "dovecot":
            proc, port = start_postfach(work, args.clients, args.messages, args.workers)
            try:
                results["postfach"] = measure("postfach", proc.pid, port, users, args.rounds)
            finally:
                stop(proc)
        if args.only != "postfach":
            if dovecot_binary() is None:
                print("dovecot: not installed (apt-get install -y dovecot-pop3d); skipped")
            else:
                proc, port = start_dovecot(work, args.clients, args.messages)
                try:
                    results["dovecot"] = measure("dovecot", proc.pid, port, users, args.rounds)
                finally:
                    stop(proc)
    if len(results) == 2:
        print(f"ratio postfach/dovecot: {results['postfach'] / results['dovecot']:.2f} "
              "(goal >= 0.7)")
    print(f"reproduce: .venv/bin/python bench/pop3/bench.py --clients {args.clients} "
          f"--messages {args.messages} --rounds {args.rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
