"""`postfach serve` as real processes for the fault tests: started, killed, started again.

A node is one `postfach serve` process tree in a session of its own, so a test
can SIGKILL its supervisor alone (as the OOM killer would) or the whole group
(a machine that dies). /proc tells which processes remain and which sockets
they hold.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from support.serve import prepare_user, start_serve

__all__ = [
    "PASSWORD",
    "USER",
    "Node",
    "alive",
    "listening_inodes",
    "prepare",
    "running",
    "socket_inodes",
    "wait_for",
    "write_config",
]

USER = "alice@example.org"
PASSWORD = "correct horse battery"
LISTENERS = (
    "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https",
    "managesieve",
)  # fmt: skip


async def prepare(url: str) -> None:
    """The domain and the one user every fault test logs in as."""
    await prepare_user(url, USER, PASSWORD)


def write_config(
    path: Path, url: str, ports: dict[str, int], server: str = "", extra: str = ""
) -> Path:
    """A config with the listeners of `ports` on 127.0.0.1 (0: any free port) and
    the others off; `server` goes into [server], `extra` (more sections) at the end."""
    listeners = "\n".join(
        f'{name} = "127.0.0.1:{ports[name]}"' if name in ports else f'{name} = ""'
        for name in LISTENERS
    )
    data = path.parent / "data"
    path.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{data}"\n{server}\n'
        f'[storage]\nurl = "{url}"\n[listeners]\n{listeners}\ndevices = ""\n'
        f"[auth]\nallow_plaintext = true\n{extra}"
    )
    return path


@dataclass
class Node:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    log: Path

    @classmethod
    def start(cls, config: Path, log: Path, workers: int = 2) -> Node:
        """Starts `postfach serve` and waits for its banner (every listener bound,
        every worker ready)."""
        process, ports = start_serve(config, log, workers, own_session=True)
        return cls(process, ports, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        """The pids of the processes whose parent is this node's supervisor."""
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError):
                    stat = (entry / "stat").read_text()
                    if int(stat[stat.rindex(")") + 2 :].split()[1]) == self.pid:
                        children.append(int(entry.name))
        return sorted(children)

    def worker_index(self, pid: int) -> int:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return 0 if b'"index": 0,' in cmdline else 1

    def kill_supervisor(self) -> None:
        """SIGKILL to the supervisor alone, as the OOM killer sends it."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def kill_group(self) -> None:
        """SIGKILL to every process of the node at once: the machine died."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_group()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # anything of it left behind


def alive(pid: int) -> bool:
    """True for a running (or stopped) process; a zombie has let go of everything."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def listening_inodes() -> set[str]:
    """The socket inodes of every listening TCP socket on this machine."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    """The socket inodes among `pid`'s open file descriptors."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


@contextlib.contextmanager
def running(config: Path, log: Path, workers: int = 2) -> Iterator[Node]:
    node = Node.start(config, log, workers)
    try:
        yield node
    finally:
        node.stop()


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Polls `condition()` until true or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
