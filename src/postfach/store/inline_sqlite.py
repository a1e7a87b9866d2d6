"""SQLite reads on the event loop's own thread.

aiosqlite runs every statement on a thread of its connection: a hand-over and a
wake-up each way, which costs more than most of the statements the protocols
make (measured here: 140-170 µs of CPU a statement through the thread, 15 µs
on the loop, for a look-up by primary key). The readers' connections therefore
run their statements at once, on the loop: in WAL mode a reader never waits for
a writer, and the look-ups a command makes take microseconds.

What may take long (a search that scans, a whole mailbox's index) still goes to
a thread: `offloaded()` around it. The writer keeps aiosqlite's thread, as its
commits wait for fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import aiosqlite

__all__ = ["InlineConnection", "connect_inline", "offloaded"]

_OFFLOAD: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_offload", default=False)


@contextlib.contextmanager
def offloaded(offload: bool = True) -> Iterator[None]:
    """The reads in this block run on a thread (or, offload=False, at once): they
    may take long enough that other sessions on the loop should not wait."""
    token = _OFFLOAD.set(offload)
    try:
        yield
    finally:
        _OFFLOAD.reset(token)


class _RunAtOnce:
    """Stands where aiosqlite keeps the queue to its thread: each (future, work)
    put on it runs at once (or on a thread, in an `offloaded()` block) and
    settles its future. SQLAlchemy puts work on that queue directly too."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, work = item
        if future is not None and _OFFLOAD.get():
            done = asyncio.get_running_loop().run_in_executor(None, work)
            done.add_done_callback(lambda ran: _settle(future, ran))
            return
        try:
            result = work()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


def _settle(future: asyncio.Future[Any], ran: asyncio.Future[Any]) -> None:
    if future.done():
        return
    if ran.cancelled():
        future.cancel()
    elif (exc := ran.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(ran.result())


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread (see the module's text)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._connect().__await__()

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        self.stop()


def connect_inline(database: str) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: connections of `database` that
    run their statements on the loop."""

    async def create() -> InlineConnection:
        def connector() -> sqlite3.Connection:
            return sqlite3.connect(database, check_same_thread=False)

        connection = InlineConnection(connector)
        await connection._connect()
        return connection

    return create
