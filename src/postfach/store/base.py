"""Engines, transactions and migrations: the part of the store that knows dialects.

`StoreBase` holds the engines, the change hub and the runtime file; `migrate`
creates every table and index of the one schema (store/schema.py) that a
database lacks, and owns the `meta` table (schema version, UIDVALIDITY
counter). `Role` is what each role of the store (store/__init__.py) stands on:
the base's transactions, hub and dialect, shared by all roles.

SQLite (the default) runs in WAL mode with `synchronous=FULL`, so a commit is on
disk when it returns; flag changes and expunges skip their own fsync and become
durable with the next commit that carries mail (sqlite_fastpath.py). It has one
writer per process: all writes go through one connection behind an asyncio
lock, then an flock that queues the processes (sqlite_fastpath.WriteGate), then
BEGIN IMMEDIATE; reads use a small pool of their own. PostgreSQL uses one pool
for both and row locks for ordering.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import namedtuple
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import CompoundSelect, Select, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from postfach import metrics
from postfach.store import migrations, textfile, textupkeep
from postfach.store.errors import StoreUnavailable
from postfach.store.events import ChangeAccountSettings, Hub
from postfach.store.faults import classify, translated
from postfach.store.inline_sqlite import connect_inline, offloaded
from postfach.store.notify import PgNotifier, RelayNotifier, poll_credentials
from postfach.store.pg_lookups import PgLookups
from postfach.store.records import AccountId
from postfach.store.runtime import RuntimeState
from postfach.store.schema import accounts, meta, metadata
from postfach.store.settings_cache import (
    GENERATION_KEY,
    READ_GENERATION,
    SettingsCache,
    ensure_generation,
    poll_generation,
)
from postfach.store.sqlite_fastpath import READER_MMAP, SqliteFastPath
from postfach.store.textfile import WordsFile

__all__ = ["SCHEMA_VERSION", "Role", "StoreBase", "async_url", "inserted_id"]

SCHEMA_VERSION = 2  # 2: mailboxes.objectid (RFC 8474 MAILBOXID)


def async_url(url: str) -> str:
    """Maps the config's URL onto the async driver SQLAlchemy should use."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


_COMPILED: dict[tuple[int, str], tuple[str, list[str], Any]] = {}
_KEEP: list[Any] = []


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def inserted_id(result: Any) -> int:
    """The primary key an INSERT made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _sqlite_pragmas(engine: AsyncEngine, *, writer: bool, attach: str | None = None) -> None:
    """`attach`: the text index's file, which readers see as schema `text_index`
    (store/textfile.py). Never the writer: its BEGIN IMMEDIATE would lock that
    file too, and the indexer writes it."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not writer:
            # Reads map the file instead of copying page by page: SEARCH visits
            # a blob row per candidate, and a copy per page was half its time.
            cursor.execute(f"PRAGMA mmap_size={READER_MMAP}")
        if attach is not None:
            cursor.execute(f"ATTACH DATABASE ? AS {textfile.SCHEMA}", (attach,))
        cursor.close()

    if not writer:
        # Reads run statement by statement in autocommit: no BEGIN and no
        # ROLLBACK around them, each of which was a trip to the driver's thread.
        return

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.asynccontextmanager
async def _drop_if_cut(conn: AsyncConnection) -> AsyncIterator[None]:
    """A connection that failed as cut (the database restarted) leaves the pool.
    SQLAlchemy does this for the disconnects it knows; asyncpg's state errors
    and failures on the raw driver (`fetch`) it does not see, and the dead
    connection would go to the next caller, and the next."""
    try:
        yield
    except Exception as exc:
        if classify(exc) is StoreUnavailable and not conn.invalidated:
            with contextlib.suppress(Exception):
                await conn.invalidate(exc)
        raise


def _create_missing(conn: Any) -> None:
    """The tables a database lacks, and the columns and indexes added to a table
    after it was made (create_all skips those). Databases of older versions gain
    the mailing tables here, which they used to create on first use."""
    metadata.create_all(conn)
    migrations.add_missing_columns(conn)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


class StoreBase:
    """Holds the engines, the hub and the runtime file; the roles stand on it."""

    def __init__(self, url: str, writer: AsyncEngine, reader: AsyncEngine, dialect: str) -> None:
        self.url = url
        self.dialect = dialect
        self.hub = Hub()
        # Per-account delivery settings (store/settings_cache.py): filled once
        # start_change_feed polls their generation, dropped as the hub says.
        self.settings_cache = SettingsCache()
        self.hub.on_settings = self.settings_cache.drop
        self._settings_poll: asyncio.Task[None] | None = None
        self._writer = writer
        self._reader = reader
        self.write_lock: asyncio.Lock | None = asyncio.Lock() if dialect == "sqlite" else None
        # SQLite on a file: add, flags and expunge take the fast path (store/mail.py).
        self.fastpath: SqliteFastPath | None = None
        self.node = uuid.uuid4().hex
        self._notifier: PgNotifier | None = None
        self._lookups: PgLookups | None = None
        self._relay: RelayNotifier | None = None
        # Set by a worker of `serve --workers N` (store/runtime.py).
        self.runtime: RuntimeState | None = None
        self._feed: asyncio.Task[None] | None = None
        # SQLite on a file: the text index's file and the indexer's connection to it.
        self.text_index_file: str | None = None
        self.words_file: WordsFile | None = None
        if dialect == "postgresql":
            self._notifier = PgNotifier(
                _asyncpg_dsn(url), self.node, self.hub, on_resync=self.settings_cache.clear
            )
            self.hub.forward = self._notifier.send
            self._lookups = PgLookups(_asyncpg_dsn(url))
        if dialect == "sqlite":
            database = make_url(writer.url).database
            if database and database != ":memory:":
                self.fastpath = SqliteFastPath(database)
                self.text_index_file = textfile.path_for(database)
                self.words_file = WordsFile(self.text_index_file)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Any:
        """Opens (and, by default, creates or migrates) the store at `url`."""
        target = async_url(url)
        parsed = make_url(target)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            writer = create_async_engine(target)
            index_file = None
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                # Reads run on the loop, not aiosqlite's thread (store/inline_sqlite.py).
                reader = create_async_engine(
                    target, pool_reset_on_return=None, async_creator=connect_inline(database)
                )
                index_file = textfile.path_for(database)
            else:
                reader = create_async_engine(target, pool_reset_on_return=None)
            _sqlite_pragmas(writer, writer=True)
            _sqlite_pragmas(reader, writer=False, attach=index_file)
            dialect = "sqlite"
        elif parsed.get_backend_name() == "postgresql":
            writer = create_async_engine(target, pool_size=10, max_overflow=20)
            reader = writer
            dialect = "postgresql"
        else:
            raise ValueError(f"unsupported storage URL {url!r}: use sqlite:/// or postgresql://")
        store = cls(url, writer, reader, dialect)
        if migrate:
            await store.migrate()
        return store

    def attach_relay(self, sock: socket.socket) -> RelayNotifier:
        """A worker of `serve --workers N`: tells the supervisor it is ready over
        `sock`; on SQLite its changes also go to the other workers that way (the
        supervisor passes them on) and theirs come back. PostgreSQL has NOTIFY."""
        self._relay = RelayNotifier(sock, self.node, self.hub)
        if self._notifier is None:
            self.hub.forward = self._relay.send
        return self._relay

    async def start_change_feed(self) -> None:
        """Hears changes made by other nodes (PostgreSQL) or other processes (SQLite)."""
        if self._relay is not None:
            await self._relay.listen()
        if self._notifier is not None:
            await self._notifier.listen()
        elif self._feed is None:
            self._feed = asyncio.create_task(
                poll_credentials(self._credentials, self.hub), name="credentials-poll"
            )
        if self._settings_poll is None:
            self._settings_poll = asyncio.create_task(
                poll_generation(self._settings_generation, self.settings_cache),
                name="settings-poll",
            )

    async def _settings_generation(self) -> int | None:
        rows = await self.fetch(READ_GENERATION, key=GENERATION_KEY)
        return int(rows[0].value) if rows else None

    async def _credentials(self) -> dict[AccountId, tuple[int, str]]:
        async with self.read() as conn:
            rows = await conn.execute(
                select(accounts.c.id, accounts.c.credentials_gen, accounts.c.password_hash)
            )
            return {AccountId(i): (g, h) for i, g, h in rows}

    async def close(self) -> None:
        for task in (self._feed, self._settings_poll):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._feed = self._settings_poll = None
        self.settings_cache.seen(None)
        if self._notifier is not None:
            await self._notifier.close()
        if self._lookups is not None:
            await self._lookups.close()
        if self._relay is not None:
            await self._relay.close()
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None
        if self.fastpath is not None:
            await asyncio.to_thread(self.fastpath.close)
            self.fastpath = None
        if self.words_file is not None:
            self.words_file.close()
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction; committed when the block ends without error.
        Driver faults leave it as StoreUnavailable / StoreFull (store/faults.py)."""
        with translated(), metrics.StoreTimer(write=True):
            if self.write_lock is None:
                async with self._writer.begin() as conn, _drop_if_cut(conn):
                    yield conn
                return
            async with self.write_lock:
                gate = self.fastpath.gate if self.fastpath is not None else None
                if gate is not None:
                    await gate.acquire()
                try:
                    async with self._writer.begin() as conn, _drop_if_cut(conn):
                        yield conn
                finally:
                    if gate is not None:
                        gate.release()

    @contextlib.asynccontextmanager
    async def read(self, *, offload: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for reading. SQLite runs its statements on the loop
        (store/inline_sqlite.py); `offload` sends them to a thread, for reads
        that may take long (scans, whole mailboxes)."""
        with translated(), metrics.StoreTimer(write=False), offloaded(offload):
            async with self._reader.connect() as conn, _drop_if_cut(conn):
                yield conn

    @property
    def pg_direct(self) -> PgLookups | None:
        """PostgreSQL: asyncpg's own pool, for the look-ups and delivery's batches."""
        return self._lookups

    async def fetch(self, stmt: Select[Any] | CompoundSelect[Any], **params: Any) -> list[Any]:
        """Runs a prepared SELECT straight on the driver: one trip for the whole
        result, no per-row SQLAlchemy processing. `stmt` is built once (module
        level) with bindparam()s; rows come back as named tuples of its columns.
        For the hot single-row look-ups every protocol command makes."""
        sql, names, row_type = self._compiled(stmt)
        args = [params[name] for name in names]
        rows: list[Any]
        if self.fastpath is not None:  # SQLite: its own reader, on the loop (sqlite_fastpath.py)
            with metrics.StoreTimer(write=False):
                rows = self.fastpath.read(sql, args)
        elif self._lookups is not None:  # PostgreSQL: asyncpg's own pool (pg_lookups.py)
            with translated(), metrics.StoreTimer(write=False):
                rows = await self._lookups.fetch(sql, args)
        else:  # SQLite in memory: one connection, the pool's
            async with self.read() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                rows = await driver.execute_fetchall(sql, args)
        return [row_type(*row) for row in rows]

    def _compiled(self, stmt: Select[Any] | CompoundSelect[Any]) -> tuple[str, list[str], Any]:
        key = (id(stmt), self.dialect)
        hit = _COMPILED.get(key)
        if hit is None:
            compiled = stmt.compile(dialect=self._reader.dialect)
            names = list(compiled.positiontup or ())
            row_type = namedtuple("Row", [c.key for c in stmt.selected_columns])  # type: ignore[misc]
            hit = _COMPILED[key] = (str(compiled), names, row_type)
            _KEEP.append(stmt)  # id() stays unique while the statement lives
        return hit

    async def migrate(self) -> None:
        """Creates missing tables and steps the schema version forward."""
        async with self.write() as conn:
            if self.dialect == "postgresql":
                # Several nodes may start at once: one migrates, the others wait.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7268510)")
            await conn.run_sync(_create_missing)
            await migrations.fill_mailbox_objectids(conn)
            await textupkeep.ensure(conn, self.dialect, self.text_index_file)
            await ensure_generation(conn)
            row = (await conn.execute(select(meta.c.value).where(meta.c.key == "schema"))).first()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database has schema version {version}, newer than this postfach "
                    f"({SCHEMA_VERSION}): upgrade postfach"
                )
            if row is None:
                await conn.execute(insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
                await conn.execute(
                    insert(meta).values(key="uidvalidity", value=str(int(time.time())))
                )
            elif version < SCHEMA_VERSION:
                # the steps above are idempotent and ran already; record that they did
                await conn.execute(
                    update(meta).where(meta.c.key == "schema").values(value=str(SCHEMA_VERSION))
                )


class Role:
    """One role of the store (accounts, mail, queue, ...): its methods run on the
    transactions, hub and dialect of the one `StoreBase` all roles share."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db
        self.hub = db.hub
        self.dialect = db.dialect
        self.write = db.write
        self.read = db.read
        self.fetch = db.fetch
        self.settings_cache = db.settings_cache

    def settings_written(self, account_id: AccountId, generation: int) -> None:
        """After the commit of a write that bumped the settings generation
        (settings_cache.bump_generation): dropped here at once, elsewhere by the hub."""
        self.settings_cache.wrote(account_id, generation)
        self.hub.publish(account_id, [ChangeAccountSettings()])
