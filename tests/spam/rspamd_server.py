"""A private rspamd for the tests: the Debian package's rules, our ports and folders.

The system's /etc/rspamd/rspamd.conf is loaded with LOCAL_CONFDIR, DBDIR,
RUNDIR and LOGDIR pointed at a temporary folder, whose override.d binds the
scanner, controller and proxy to free ports of 127.0.0.1. Bayes learning keeps
its statistics in Redis: a private redis-server when the package is there, else
the machine's (127.0.0.1:6379, database 9). rspamd's own greylisting and its
DNS-bound host checks are off: a new message is scored, not deferred.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.net import free_port

CONFIG = Path("/etc/rspamd/rspamd.conf")
STARTUP = 120.0  # seconds; rspamd compiles its rules at start


@dataclass
class Rspamd:
    scanner: str
    controller: str
    password: str
    redis: bool  # learning can work

def redis_running(port: int = 6379) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


@contextlib.contextmanager
def private_redis(base: Path) -> Iterator[int | None]:
    """A throw-away redis-server's port; else 6379 if a Redis runs there; else None."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield 6379 if redis_running() else None
        return
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(base)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not redis_running(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield port if redis_running(port) else None
    finally:
        process.terminate()
        process.wait(10)


def _write_config(
    base: Path, ports: dict[str, int], password_hash: str, redis: int | None
) -> None:
    override, local = base / "local" / "override.d", base / "local" / "local.d"
    override.mkdir(parents=True)
    local.mkdir(parents=True)
    for name in ("db", "run", "log"):
        (base / name).mkdir()
    for worker, port in ports.items():
        extra = ""
        if worker == "controller":  # a password, and loopback not trusted without it
            extra = f'password = "{password_hash}";\nsecure_ip = "192.0.2.1";\n'
        bind = f'bind_socket = "127.0.0.1:{port}";\n'
        (override / f"worker-{worker}.inc").write_text(bind + extra)
    (override / "logging.inc").write_text('type = "console";\nlevel = "warning";\n')
    (local / "options.inc").write_text("dns { timeout = 1s; retransmits = 1; }\n")
    if redis is not None:
        (local / "redis.conf").write_text(f'servers = "127.0.0.1:{redis}";\ndb = "9";\n')
    for module in ("greylist", "hfilter"):  # no deferral; no DNS-bound host checks
        (local / f"{module}.conf").write_text("enabled = false;\n")


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return True
        time.sleep(0.3)
    return False


@contextlib.contextmanager
def running_rspamd() -> Iterator[Rspamd]:
    """Starts rspamd, or skips the test saying why it cannot."""
    binary = shutil.which("rspamd")
    if binary is None or not CONFIG.exists():
        pytest.skip("rspamd is not installed (Debian package rspamd; `make test-deps`)")
    password = "learn-secret"
    hashed = subprocess.run(
        ["rspamadm", "pw", "-p", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="postfach-rspamd-"))
    try:
        with private_redis(base) as redis, _rspamd(binary, base, hashed, redis) as urls:
            yield Rspamd(*urls, password, redis is not None)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _rspamd(binary: str, base: Path, hashed: str, redis: int | None) -> Iterator[tuple[str, str]]:
    ports = {"normal": free_port(), "controller": free_port(), "proxy": free_port()}
    _write_config(base, ports, hashed, redis)
    command = [binary, "-f", "-c", str(CONFIG)]
    if os.geteuid() == 0:  # rspamd will not run its workers as root
        user = pwd.getpwnam("_rspamd")
        for path in [base, *base.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        command += ["-u", "_rspamd", "-g", "_rspamd"]
    folders = {"LOCAL_CONFDIR": "local", "DBDIR": "db", "RUNDIR": "run", "LOGDIR": "log"}
    for var, sub in folders.items():
        command += ["--var", f"{var}={base / sub}"]
    log = (base / "out.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    scanner = f"http://127.0.0.1:{ports['normal']}"
    try:
        if not _wait_ready(scanner, process):
            tail = (base / "out.log").read_text(errors="replace")[-800:]
            pytest.skip(f"rspamd did not start within {STARTUP:.0f} s: {tail}")
        yield scanner, f"http://127.0.0.1:{ports['controller']}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
