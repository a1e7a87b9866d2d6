"""Servers for the IMAP benches: postfach (`postfach serve --config`) and a private Dovecot.

Both run in their own processes in a temporary directory, on loopback ports
picked at random, with users user1..userN@example.org (password "pass").

- postfach: a config with only the `imap` listener, SQLite under the work
  directory; mailboxes are filled through `store.mail.add_messages` before start.
- Dovecot (Debian's `dovecot-imapd`): a private config (base_dir, state_dir,
  log under the work directory; loopback listener; a static passwd-file passdb
  with PLAIN passwords; Maildir homes). The system's Dovecot is never touched.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from loopback import free_port, wait_greeting  # noqa: E402

PASSWORD = "pass"
DOMAIN = "example.org"

PARAGRAPH = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
    b"tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim\r\n"
)

Messages = Callable[[int], Iterable[bytes]]


def message(user: int, n: int, paragraphs: int = 30) -> bytes:
    """A plain message of about 4 KB (30 paragraphs), CRLF."""
    return (
        b"From: Sender %d <sender%d@example.net>\r\nTo: user%d@example.org\r\n"
        b"Subject: bench message %d about topic%d\r\nMessage-ID: <%d.%d@bench.example.net>\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        % (n % 7, n % 7, user, n, n % 10, user, n)
    ) + PARAGRAPH * paragraphs


def user_name(i: int) -> str:
    return f"user{i}@{DOMAIN}"


def wait_imap(port: int, timeout: float = 120.0) -> None:
    wait_greeting(port, b"* OK", "IMAP", timeout)


def raise_nofile(want: int) -> int:
    """Raises the soft (and, as root, hard) open-files limit; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_kb(pid: int) -> int:
    """Resident set size of one process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kb(pid: int) -> int:
    """Resident set size of a process and its children (postfach's workers)."""
    total = rss_kb(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            try:
                text = (entry / "stat").read_text()
                if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                    total += rss_kb(int(entry.name))
            except (OSError, ValueError):
                continue
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its live children and the children it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: int) -> list[str]:
        text = Path(f"/proc/{p}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()

    own = fields(pid)
    total = sum(int(x) for x in own[11:15])  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            try:
                f = fields(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(f[1]) == pid:  # a live child (Dovecot's imap and login processes)
                total += sum(int(x) for x in f[11:13])
    return total / tick


# -- postfach ---------------------------------------------------------------------


async def fill_postfach(url: str, users: int, messages: Messages, batch: int = 2000) -> None:
    """Accounts user1..userN with their INBOX filled in batches (one commit each)."""
    sys.path.insert(0, str(ROOT / "src"))
    from postfach.auth.passwords import hash_password_async
    from postfach.store import NewMessage, Store
    from postfach.store.blobs import prepare_blob

    store = await Store.connect(url)
    try:
        if await store.accounts.get_domain(DOMAIN) is None:
            await store.accounts.add_domain(DOMAIN)
        digest = await hash_password_async(PASSWORD)
        for i in range(1, users + 1):
            account = await store.accounts.add_account(user_name(i), digest)
            inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            pending: list[NewMessage] = []
            for raw in messages(i):
                pending.append(NewMessage(inbox.id, prepare_blob(raw)))
                if len(pending) >= batch:
                    await store.mail.add_messages(pending)
                    pending = []
            if pending:
                await store.mail.add_messages(pending)
        # Indexed for SEARCH before the server starts, as mail that has been
        # there a while: the load measures IMAP, not the fill's indexing.
        while await store.mail.index_pending(1000):
            pass
    finally:
        await store.close()


async def empty_postgres(url: str) -> None:
    """A fresh schema in the bench's PostgreSQL database (all of its data goes)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def start_postfach(
    work: Path, users: int, messages: Messages, limits: str = "", workers: int = 0, url: str = ""
) -> tuple[subprocess.Popen[bytes], int]:
    """`postfach serve --config` with only the imap listener and `workers` processes
    (0: postfach's default, CPU cores + 1) on SQLite under `work`, or on the
    PostgreSQL database `url` (emptied first); returns (process, port)."""
    port = free_port()
    data = work / "postfach"
    data.mkdir()
    if url.startswith("postgresql"):
        asyncio.run(empty_postgres(url))
    else:
        url = f"sqlite:///{data / 'postfach.db'}"
    off = "\n".join(
        f'{name} = ""'
        for name in (
            "smtp",
            "submission",
            "submissions",
            "imaps",
            "pop3",
            "pop3s",
            "http",
            "https",
            "devices",
            "managesieve",
        )
    )
    config = data / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{data}"\nworkers = {workers}\n'
        f'[storage]\nurl = "{url}"\n'
        f'[listeners]\nimap = "127.0.0.1:{port}"\n{off}\n'
        "[auth]\nallow_plaintext = true\n"
        f"[limits]\n{limits}\n"
    )
    asyncio.run(fill_postfach(url, users, messages))
    return serve_postfach(config, data, lambda: wait_imap(port)), port


def serve_postfach(
    config: Path, data: Path, ready: Callable[[], None]
) -> subprocess.Popen[bytes]:
    """`postfach serve --config CONFIG`, its log in DATA/serve.log, until `ready()`
    returns; a server that does not get there is stopped and its log shown."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "postfach", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(data / "serve.log", "wb"),  # noqa: SIM115
        cwd=ROOT,
    )
    try:
        ready()
    except SystemExit:
        stop(proc)
        print((data / "serve.log").read_text()[-3000:], file=sys.stderr)
        raise
    return proc


# -- Dovecot ----------------------------------------------------------------------


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def _maildir(home: Path, raws: Iterable[bytes]) -> None:
    for sub in ("new", "cur", "tmp"):
        (home / "Maildir" / sub).mkdir(parents=True)
    new = home / "Maildir" / "new"
    for n, raw in enumerate(raws, 1):
        (new / f"{1700000000 + n}.M{n}P1.bench").write_bytes(raw)


def dovecot_config(base: Path, port: int, root: bool, owner: pwd.struct_passwd) -> str:
    login_user = "dovenull" if root else owner.pw_name
    group = pwd.getpwuid(owner.pw_uid).pw_name
    return (
        f"base_dir = {base}/run\nstate_dir = {base}/state\n"
        f"log_path = {base}/dovecot.log\ninstance_name = postfach-imap-bench\n"
        "protocols = imap\nlisten = 127.0.0.1\nssl = no\n"
        "disable_plaintext_auth = no\nauth_mechanisms = plain login\n"
        f"default_login_user = {login_user}\ndefault_internal_user = {owner.pw_name}\n"
        f"default_internal_group = {group}\n"
        f"first_valid_uid = {owner.pw_uid}\nlast_valid_uid = 0\nfirst_valid_gid = 0\n"
        "mail_location = maildir:~/Maildir\nmail_max_userip_connections = 1000\n"
        f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {base}/users\n}}\n"
        f"userdb {{\n  driver = passwd-file\n  args = {base}/users\n}}\n"
        "service anvil {\n  chroot =\n}\n"
        "service imap-login {\n  chroot =\n"
        f"  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
    )


def start_dovecot(
    work: Path, users: int, messages: Messages
) -> tuple[subprocess.Popen[bytes], int]:
    """A private Dovecot with Maildir homes filled with the same messages."""
    binary = dovecot_binary()
    if binary is None:
        raise SystemExit("dovecot is not installed (apt-get install -y dovecot-imapd)")
    port = free_port()
    base = work / "dovecot"
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir(parents=True)
    base.chmod(0o755)
    work.chmod(0o755)
    root = os.geteuid() == 0
    owner = pwd.getpwnam("dovecot") if root else pwd.getpwuid(os.geteuid())
    lines = []
    for i in range(1, users + 1):
        home = base / "mail" / f"user{i}"
        _maildir(home, messages(i))
        lines.append(f"{user_name(i)}:{{PLAIN}}{PASSWORD}:{owner.pw_uid}:{owner.pw_gid}::{home}")
    (base / "users").write_text("\n".join(lines) + "\n")
    if root:
        subprocess.run(
            ["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(base / "mail")], check=True
        )
    (base / "dovecot.conf").write_text(dovecot_config(base, port, root, owner))
    proc = subprocess.Popen([binary, "-F", "-c", str(base / "dovecot.conf")])
    wait_imap(port)
    return proc, port
