"""`postfach serve` with several worker processes: the supervisor.

One Python process keeps one core busy; a mail server on a machine of several
cores should use them all, as Dovecot's process per connection does. The
supervisor binds every listening socket once and starts N workers, each
`postfach serve --worker SPEC` with the sockets inherited: they all accept on
the same sockets, so the kernel hands each connection to whichever is free.

Beside the sockets each worker gets one end of a socket pair. A worker says
`ready` on it when its listeners run; on SQLite it also sends every change it
commits there (the NOTIFY payloads of store/notify.py), and the supervisor
passes each line to the other workers, so IDLE in one worker hears of a
delivery in another. State that was per process and must agree between the
workers (\\Recent, connections per address, POP3 leases on SQLite) lives in the
runtime file the supervisor makes anew at every start (store/runtime.py).

A worker that dies is started again after a pause, with the same sockets;
connections it held are lost, queued ones wait in the sockets' backlog.
SIGTERM or SIGINT to the supervisor stops every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postfach.config import Config, ListenerSpec
from postfach.store.notify import READY
from postfach.store.runtime import RuntimeState

__all__ = ["Supervisor", "WorkerSpec", "bind_listener", "runtime_path"]

log = logging.getLogger(__name__)

BACKLOG = 1024
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
RESTART_PAUSE = 1.0


def runtime_path(config: Config) -> Path:
    return Path(config.server.data_dir) / "runtime.db"


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
        sock.set_inheritable(True)
        return sock
    raise OSError(f"listener {spec.name}: cannot listen on {spec.host}:{spec.port}: {error}")


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What the supervisor tells a worker on its command line."""

    index: int
    relay_fd: int
    socket_fds: dict[str, int]
    runtime: str

    def encode(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "relay": self.relay_fd,
                "sockets": self.socket_fds,
                "runtime": self.runtime,
            }
        )

    @classmethod
    def decode(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        return cls(
            index=int(data["index"]),
            relay_fd=int(data["relay"]),
            socket_fds={str(k): int(v) for k, v in data["sockets"].items()},
            runtime=str(data["runtime"]),
        )


@dataclass(slots=True)
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader_task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)


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
        self._stopping = False
        self.failed = asyncio.Event()  # a worker could not start: serve gives up

    def port(self, name: str) -> int:
        return int(self.sockets[name].getsockname()[1])

    async def start(self) -> None:
        for spec in self.config.listeners_enabled():
            self.sockets[spec.name] = bind_listener(spec)
        path = runtime_path(self.config)
        RuntimeState.create(path)
        self._runtime = RuntimeState(path, worker=-1)
        try:
            for index in range(self.count):
                await self._spawn(index)
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        for index in range(self.count):
            self._monitors.append(asyncio.create_task(self._monitor(index), name=f"worker {index}"))

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
                        raise RuntimeError(
                            f"worker {worker.index} exited with status "
                            f"{worker.process.returncode} while starting (its log is above)"
                        )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not start within {START_TIMEOUT:.0f} s")
        finally:
            for task in (*waits, *exits):
                task.cancel()

    async def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair()
        theirs.set_inheritable(True)
        listeners = {
            name: sock for name, sock in self.sockets.items() if name != "http" or index == 0
        }
        spec = WorkerSpec(
            index=index,
            relay_fd=theirs.fileno(),
            socket_fds={name: sock.fileno() for name, sock in listeners.items()},
            runtime=str(runtime_path(self.config)),
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
                pass_fds=[theirs.fileno(), *spec.socket_fds.values()],
                # libuv (uvloop) would accept every pending connection at once, so
                # one worker could take a whole burst; one per turn spreads them.
                env={**os.environ, "UV_TCP_SINGLE_ACCEPT": "1"},
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 20)
        worker = _Worker(index, process, writer)
        worker.reader_task = asyncio.create_task(self._relay(worker, reader))
        self._workers[index] = worker

    async def _relay(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        """Passes each change line of one worker to all the others."""
        while line := await reader.readline():
            if line == READY:
                worker.ready.set()
                continue
            for other in self._workers.values():
                if other is not worker and not other.writer.is_closing():
                    other.writer.write(line)

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
        if worker.reader_task is not None:
            worker.reader_task.cancel()
        worker.writer.close()
        if self._runtime is not None:
            self._runtime.forget_worker(worker.index)

    async def stop(self) -> None:
        self._stopping = True
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
            if worker.reader_task is not None:
                worker.reader_task.cancel()
            worker.writer.close()
        self._workers.clear()
        for sock in self.sockets.values():
            sock.close()
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
