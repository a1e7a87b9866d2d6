"""`postfach serve` with several worker processes: the supervisor.

One Python process keeps one core busy; a mail server on a machine of several
cores should use them all, as Dovecot's process per connection does. The
supervisor binds every listening socket once, starts N workers (`postfach
serve --worker SPEC`), accepts the connections itself and hands each to the
worker with the fewest open ones (SCM_RIGHTS over a socket pair): a POP3
session that downloads a whole mailbox keeps a worker busy for long, so
"whoever accepts first" would pile sessions onto one worker. HTTP is the
exception: worker 0 inherits those sockets (http, https) and serves them alone.

Each worker also gets one end of a stream socket pair, the relay. A worker
says `ready` on it when its listeners run and `closed` for every connection
that ends; on SQLite it also sends every change it commits there (the NOTIFY
payloads of store/notify.py), and the supervisor passes each line to the
other workers, so IDLE in one worker hears of a delivery in another. State
that was per process and must agree between the workers (\\Recent,
connections per address, failed logins, POP3 leases on SQLite) lives in the
runtime file the supervisor makes anew at every start (store/runtime.py).

A worker that dies is started again after a pause; connections it held are
lost, new ones go to the others meanwhile. A worker whose event loop stops
turning (it says `beat` on the relay every second) for
`server.worker_stall_timeout` seconds is killed and replaced the same way: one
runaway computation must not freeze every session the worker holds. SIGTERM
or SIGINT to the supervisor stops every worker.

The supervisor imports only what accepting, handing over and watching need
(this module imports no protocol, no TLS stack and of the store only the
runtime file and the relay's lines): it holds about 25 MB, not the 100 MB of
a worker. What needs the store before the workers start (the schema, the
demo account of --dev, the self-signed pair) runs in a child (cli/serve.py).

Workers end with their supervisor, however it ends: the kernel kills each one
when the supervisor dies (PR_SET_PDEATHSIG on Linux; a stuck loop could not
react to anything gentler), and the end of the relay stops a worker that
outlives it anyway. Otherwise a supervisor killed by the OOM killer would leave
workers holding the listening ports, and every restart would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postfach.config import Config, ListenerSpec
from postfach.metricsdir import prepare_multiprocess
from postfach.net import handover
from postfach.store.relaylines import HEARTBEAT, READY, closed_number
from postfach.store.runtime import RuntimeState

__all__ = [
    "StartError",
    "Supervisor",
    "WorkerSpec",
    "bind_listener",
    "die_with_supervisor",
    "runtime_path",
]

log = logging.getLogger(__name__)

BACKLOG = 1024
BIND_RETRY = 2.0  # seconds a port in use is tried again (see _bind)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
RESTART_PAUSE = 1.0
# Served by worker 0 on the socket itself, not handed over.
INHERITED = frozenset({"http", "https", "metrics"})
SECRET_BYTES = 32
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class StartError(Exception):
    """The workers could not be started; the message says why."""


def runtime_path(config: Config) -> Path:
    return Path(config.server.data_dir) / "runtime.db"


def read_secret(fd: int) -> bytes:
    """The run's key from the pipe the supervisor passed (and closed its end of)."""
    try:
        chunks = []
        while chunk := os.read(fd, SECRET_BYTES):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def die_with_supervisor(supervisor: int) -> bool:
    """Asks the kernel to kill this worker when its supervisor dies (Linux); False
    when the supervisor is gone already (it died before the request took effect)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG): %s", os.strerror(ctypes.get_errno()))
        except (OSError, AttributeError) as exc:  # no usable libc: the relay's end remains
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    return os.getppid() == supervisor


def bind_listener(spec: ListenerSpec) -> socket.socket:
    """A listening TCP socket for `spec`; an empty host listens on every address
    (IPv6 and IPv4 on one socket where the system has IPv6)."""
    if not spec.host:
        candidates: list[tuple[int, tuple[Any, ...]]] = []
        if socket.has_ipv6:
            candidates.append((socket.AF_INET6, ("::", spec.port)))
        candidates.append((socket.AF_INET, ("0.0.0.0", spec.port)))
    else:
        infos = socket.getaddrinfo(
            spec.host, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        candidates = [(family, address) for family, _, _, _, address in infos]
    error: OSError | None = None
    for family, address in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if spec.host else 0)
            sock.bind(address)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        # Not inheritable: uvloop's spawn ignores close_fds, so an inheritable socket
        # would go to every worker. pass_fds hands each worker exactly its own.
        return sock
    message = f"listener {spec.name}: cannot listen on {spec.host}:{spec.port}: {error}"
    raise OSError(message) from error


async def _bind(spec: ListenerSpec) -> socket.socket:
    """bind_listener, tried again for BIND_RETRY seconds while the port is in use:
    right after a crash the processes of the server before may be ending still."""
    deadline = time.monotonic() + BIND_RETRY
    while True:
        try:
            return bind_listener(spec)
        except OSError as exc:
            cause = exc.__cause__
            in_use = isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE
            if not in_use or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What the supervisor tells a worker on its command line."""

    index: int
    relay_fd: int
    handoff_fd: int
    secret_fd: int  # a pipe holding the run's key for what workers share (store/runtime.py)
    socket_fds: dict[str, int]
    runtime: str
    supervisor: int  # its pid: the worker checks that it has not died already

    def encode(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "relay": self.relay_fd,
                "handoff": self.handoff_fd,
                "secret": self.secret_fd,
                "sockets": self.socket_fds,
                "runtime": self.runtime,
                "supervisor": self.supervisor,
            }
        )

    @classmethod
    def decode(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        return cls(
            index=int(data["index"]),
            relay_fd=int(data["relay"]),
            handoff_fd=int(data["handoff"]),
            secret_fd=int(data["secret"]),
            socket_fds={str(k): int(v) for k, v in data["sockets"].items()},
            runtime=str(data["runtime"]),
            supervisor=int(data["supervisor"]),
        )


@dataclass(slots=True)
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    handoff: socket.socket
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    open: int = 0  # connections handed over and not reported closed
    reader_task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)
    beat: float = field(default_factory=time.monotonic)  # its loop last said it turns
    stalled: bool = False  # killed for a stalled loop; its exit is expected


class Supervisor:
    """Starts, relays for, restarts and stops the worker processes."""

    def __init__(self, config: Config, count: int, serve_args: list[str]) -> None:
        self.config = config
        self.count = count
        self._serve_args = serve_args  # how the workers find the same config
        self.sockets: dict[str, socket.socket] = {}
        self._workers: dict[int, _Worker] = {}
        self._monitors: list[asyncio.Task[None]] = []
        self._runtime: RuntimeState | None = None
        self._secret = secrets.token_bytes(SECRET_BYTES)  # the workers' shared key, this run only
        # limits.max_connections_per_ip, kept here (net/handover.py): the open
        # connections per (listener, address), and which worker holds each one.
        self._per_ip: Counter[tuple[str, str]] = Counter()
        self._counted: dict[int, tuple[int, tuple[str, str]]] = {}  # number -> worker, key
        self._handed = 0  # numbers the connections handed over
        self._proxied = frozenset(config.proxy.protocol_listeners)
        self._stopping = False
        self.failed = asyncio.Event()  # a worker could not start: serve gives up

    def port(self, name: str) -> int:
        return int(self.sockets[name].getsockname()[1])

    async def start(self) -> None:
        """Binds, starts the workers and accepts. The store's schema and the TLS
        pair must be ready (cli/serve.py prepares them in a child first)."""
        for spec in self.config.listeners_enabled():
            self.sockets[spec.name] = await _bind(spec)
        path = runtime_path(self.config)
        RuntimeState.create(path)
        self._runtime = RuntimeState(path, worker=-1)
        # Each worker counts in files there; /metrics sums them (postfach/metrics.py).
        prepare_multiprocess(Path(self.config.server.data_dir))
        try:
            for index in range(self.count):
                await self._spawn(index)
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        loop = asyncio.get_running_loop()
        for name, sock in self._accepted().items():
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._accept, name, sock)
        for index in range(self.count):
            self._monitors.append(asyncio.create_task(self._monitor(index), name=f"worker {index}"))
        self._monitors.append(asyncio.create_task(self._watch_stalls(), name="stall watchdog"))

    async def _wait_ready(self) -> None:
        waits = [asyncio.create_task(w.ready.wait()) for w in self._workers.values()]
        exits = [asyncio.create_task(w.process.wait()) for w in self._workers.values()]
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not all(w.ready.is_set() for w in self._workers.values()):
                await asyncio.wait(
                    [*waits, *exits], timeout=0.1, return_when=asyncio.FIRST_COMPLETED
                )
                for worker in self._workers.values():
                    if worker.process.returncode is not None:
                        raise StartError(
                            f"worker {worker.index} exited with status "
                            f"{worker.process.returncode} while starting (its log is above)"
                        )
                if time.monotonic() > deadline:
                    raise StartError(f"the workers did not start within {START_TIMEOUT:.0f} s")
        finally:
            for task in (*waits, *exits):
                task.cancel()

    def _accepted(self) -> dict[str, socket.socket]:
        """The listeners whose connections the supervisor accepts and hands over;
        the rest (HTTP) worker 0 serves itself on the inherited socket."""
        return {name: sock for name, sock in self.sockets.items() if name not in INHERITED}

    def _accept(self, name: str, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: try again next turn
                log.warning("%s: accept failed: %s", name, exc)
                return
            try:
                self._hand_over(name, conn, str(address[0]))
            finally:
                conn.close()  # the worker has its own descriptor now

    def _hand_over(self, name: str, conn: socket.socket, ip: str) -> None:
        """To the least busy worker that is running; if none can take it, the
        connection is closed (its client sees a reset and tries again)."""
        workers = [
            w for w in self._workers.values() if w.ready.is_set() and w.process.returncode is None
        ]
        key = (name, ip)
        if name in self._proxied:  # the client is behind the PROXY header: the worker counts
            count = handover.Count.WORKER
        elif self._per_ip[key] >= self.config.limits.max_connections_per_ip:
            count = handover.Count.OVER  # the worker answers with the protocol's refusal
        else:
            count = handover.Count.IN
        self._handed += 1
        message = handover.encode(name, self._handed, count)
        for worker in sorted(workers, key=lambda w: w.open):
            try:
                socket.send_fds(worker.handoff, [message], [conn.fileno()])
            except OSError:  # its queue is full, or it just died
                continue
            worker.open += 1
            if count is handover.Count.IN:
                self._per_ip[key] += 1
                self._counted[self._handed] = (worker.index, key)
            return
        log.warning("%s: no worker could take a connection", name)

    def _ended(self, worker: _Worker, number: int) -> None:
        """A connection handed to `worker` ended."""
        worker.open = max(0, worker.open - 1)
        counted = self._counted.pop(number, None)
        if counted is not None:
            self._uncount(counted[1])

    def _uncount(self, key: tuple[str, str]) -> None:
        self._per_ip[key] -= 1
        if self._per_ip[key] <= 0:
            del self._per_ip[key]

    async def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair()
        handoff, their_handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        handoff.setblocking(False)
        # The key goes through a pipe, not the command line: ps shows that to anyone.
        secret_read, secret_write = os.pipe()
        os.write(secret_write, self._secret)  # 32 bytes: the pipe's buffer holds them
        os.close(secret_write)
        inherited = (
            {n: s for n, s in self.sockets.items() if n in INHERITED} if index == 0 else {}
        )
        spec = WorkerSpec(
            index=index,
            relay_fd=theirs.fileno(),
            handoff_fd=their_handoff.fileno(),
            secret_fd=secret_read,
            socket_fds={name: sock.fileno() for name, sock in inherited.items()},
            runtime=str(runtime_path(self.config)),
            supervisor=os.getpid(),
        )
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "postfach",
                "serve",
                *self._serve_args,
                "--worker",
                spec.encode(),
                pass_fds=[
                    theirs.fileno(), their_handoff.fileno(), secret_read,
                    *spec.socket_fds.values(),
                ],  # fmt: skip
            )
        except BaseException:
            handoff.close()
            raise
        finally:
            theirs.close()
            their_handoff.close()
            os.close(secret_read)
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 20)
        worker = _Worker(index, process, writer, handoff)
        worker.reader_task = asyncio.create_task(self._relay(worker, reader))
        self._workers[index] = worker

    async def _relay(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        """Passes each change line of one worker to all the others."""
        while line := await reader.readline():
            number = closed_number(line)
            if number is not None:
                self._ended(worker, number)
                continue
            if line == HEARTBEAT:
                worker.beat = time.monotonic()
                continue
            if line == READY:
                worker.beat = time.monotonic()
                worker.ready.set()
                continue
            for other in self._workers.values():
                if other is not worker and not other.writer.is_closing():
                    other.writer.write(line)

    async def _watch_stalls(self) -> None:
        """Kills a running worker whose loop has been silent too long; _monitor
        then starts a new one as for any worker that died."""
        timeout = self.config.server.worker_stall_timeout
        if timeout <= 0:
            return
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            for worker in list(self._workers.values()):
                silent = now - worker.beat
                if worker.stalled or not worker.ready.is_set() or silent <= timeout:
                    continue
                if worker.process.returncode is not None:
                    continue
                log.error(
                    "worker %d: event loop stalled for %.0f s; replacing it",
                    worker.index,
                    silent,
                )
                worker.stalled = True
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()

    async def _monitor(self, index: int) -> None:
        while True:
            worker = self._workers[index]
            status = await worker.process.wait()
            if self._stopping:
                return
            log.error("worker %d (pid %d) exited with status %s", index, worker.process.pid, status)
            self._forget(worker)
            # A worker that dies at once would otherwise be restarted in a tight loop.
            lived = time.monotonic() - worker.started
            await asyncio.sleep(RESTART_PAUSE if lived > 10 else RESTART_PAUSE * 5)
            if self._stopping:
                return
            try:
                await self._spawn(index)
            except OSError:
                log.exception("worker %d could not be started again", index)
                self.failed.set()
                return
            log.info("worker %d started again (pid %d)", index, self._workers[index].process.pid)

    def _forget(self, worker: _Worker) -> None:
        """Closes the channels of a worker that has exited and drops what it held."""
        if worker.reader_task is not None:
            worker.reader_task.cancel()
        worker.writer.close()
        worker.handoff.close()
        for number, (index, key) in list(self._counted.items()):
            if index == worker.index:  # its connections died with it
                del self._counted[number]
                self._uncount(key)
        if self._runtime is not None:
            self._runtime.forget_worker(worker.index)

    async def stop(self) -> None:
        self._stopping = True
        loop = asyncio.get_running_loop()
        for sock in self._accepted().values():
            with contextlib.suppress(Exception):
                loop.remove_reader(sock.fileno())
        for task in self._monitors:
            task.cancel()
        for worker in self._workers.values():
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        for worker in self._workers.values():
            try:
                await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.error("worker %d did not stop in %.0f s: killed", worker.index, STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
            self._forget(worker)
        self._workers.clear()
        for sock in self.sockets.values():
            sock.close()
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
