"""A private PostgreSQL for fault tests: initdb/pg_ctl from the Debian server
package, on a free loopback port, its data and socket in a temp directory.

Never the machine's own server: tests stop and start this one at will. initdb
refuses to run as root, so as root the cluster belongs to the `postgres` user
(runuser); its directory is then made with mkdtemp, because pytest's tmp_path
lies under a root-only directory that user cannot enter.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.net import free_port

__all__ = ["PrivatePostgres", "pg_bin_dir", "private_postgres", "unavailable_reason"]


def pg_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    candidates = [
        d / "bin"
        for d in root.iterdir()
        if (d / "bin" / "initdb").exists() and (d / "bin" / "pg_ctl").exists()
    ]
    candidates.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


def unavailable_reason() -> str:
    """Why no private PostgreSQL can be started here; "" when one can."""
    if pg_bin_dir() is None:
        return "PostgreSQL server binaries missing (apt-get install postgresql; make test-deps)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: initdb refuses root"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
    return ""


@dataclass
class PrivatePostgres:
    bin_dir: Path
    base: Path
    port: int
    user: str | None  # run as this user (runuser) when we are root

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True, cwd=self.base
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = pg_bin_dir()
    assert bin_dir is not None
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="postfach-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    pg = PrivatePostgres(bin_dir, base, free_port(), user)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            if pg.running():
                pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
