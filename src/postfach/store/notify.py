"""Changes between processes and nodes.

PostgreSQL: every change published on one node is sent with NOTIFY after its
commit and published on the hubs of the other nodes, so IMAP IDLE on node B
hears of a delivery on node A, and "log out everywhere" from the CLI ends
sessions on every node. SQLite: the worker processes of one server send the
same payloads over a socket pair to their supervisor, which passes them to
the other workers (RelayNotifier). The CLI is yet another process: the server
polls the accounts' credentials so that a password change or logout-everywhere
made there ends sessions here too. ChangeAccountSettings travels the same ways
and drops an account from each process's settings cache (settings_cache.py,
which also polls a generation counter: what is lost here costs at most 0.5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from postfach.store.errors import StoreUnavailable
from postfach.store.events import (
    Change,
    ChangeAccountSettings,
    ChangeAddUid,
    ChangeCredentials,
    ChangeExpunge,
    ChangeFlags,
    ChangeMailboxes,
    ChangeQueued,
    Hub,
)
from postfach.store.faults import report
from postfach.store.records import AccountId, MailboxId, ModSeq, Uid
from postfach.store.relaylines import HEARTBEAT, HEARTBEAT_INTERVAL, READY, closed_line

__all__ = [
    "CHANNEL",
    "HEARTBEAT",
    "HEARTBEAT_INTERVAL",
    "READY",
    "PgNotifier",
    "RelayNotifier",
    "decode_changes",
    "encode_changes",
]

log = logging.getLogger(__name__)

CHANNEL = "postfach_changes"
# What is queued goes out in one statement (one round trip, not one a change),
# in order: PostgreSQL delivers a transaction's notifications as they were sent.
_NOTIFY_ALL = (
    "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS t(payload, n)"
    " ORDER BY n"
)
_NOTIFY_BURST = 500
# The sender's connection is kept this long after the last change.
SENDER_IDLE = 5.0
# NOTIFY payloads must stay under 8000 bytes.
_MAX_PAYLOAD = 7000


def _encode(change: Change) -> list[Any]:
    match change:
        case ChangeAddUid(mailbox_id, uid, modseq, flags):
            return ["a", mailbox_id, uid, modseq, sorted(flags)]
        case ChangeFlags(mailbox_id, uid, modseq, flags):
            return ["f", mailbox_id, uid, modseq, sorted(flags)]
        case ChangeExpunge(mailbox_id, uids, modseq):
            return ["x", mailbox_id, list(uids), modseq]
        case ChangeMailboxes():
            return ["m"]
        case ChangeCredentials(generation, logout):
            return ["c", generation, logout]
        case ChangeQueued():
            return ["q"]
        case ChangeAccountSettings():
            return ["s"]
    raise TypeError(f"unknown change {change!r}")


def _decode(item: list[Any]) -> Change:
    kind = item[0]
    if kind == "a":
        return ChangeAddUid(MailboxId(item[1]), Uid(item[2]), ModSeq(item[3]), frozenset(item[4]))
    if kind == "f":
        return ChangeFlags(MailboxId(item[1]), Uid(item[2]), ModSeq(item[3]), frozenset(item[4]))
    if kind == "x":
        return ChangeExpunge(MailboxId(item[1]), tuple(Uid(u) for u in item[2]), ModSeq(item[3]))
    if kind == "m":
        return ChangeMailboxes()
    if kind == "c":
        return ChangeCredentials(int(item[1]), bool(item[2]))
    if kind == "q":
        return ChangeQueued()
    if kind == "s":
        return ChangeAccountSettings()
    raise ValueError(f"unknown change kind {kind!r}")


def encode_changes(node: str, account_id: AccountId, changes: list[Change]) -> list[str]:
    """One or more payloads, each small enough for NOTIFY."""
    payloads: list[str] = []
    batch: list[list[Any]] = []
    size = 0
    for change in changes:
        item = _encode(change)
        item_size = len(json.dumps(item))
        if batch and size + item_size > _MAX_PAYLOAD:
            payloads.append(json.dumps([node, account_id, batch]))
            batch, size = [], 0
        if item_size > _MAX_PAYLOAD and isinstance(change, ChangeExpunge):
            # A huge expunge is split by UID.
            half = len(change.uids) // 2
            for part in (change.uids[:half], change.uids[half:]):
                piece = ChangeExpunge(change.mailbox_id, part, change.modseq)
                payloads.extend(encode_changes(node, account_id, [piece]))
            continue
        batch.append(item)
        size += item_size
    if batch:
        payloads.append(json.dumps([node, account_id, batch]))
    return payloads


def decode_changes(payload: str) -> tuple[str, AccountId, list[Change]]:
    node, account_id, items = json.loads(payload)
    return node, AccountId(int(account_id)), [_decode(i) for i in items]


class PgNotifier:
    """Sends this node's changes with NOTIFY and publishes the other nodes' locally."""

    def __init__(
        self, dsn: str, node: str, hub: Hub, on_resync: Callable[[], None] | None = None
    ) -> None:
        self._dsn = dsn
        self._node = node
        self._hub = hub
        # Called when notifications may have been missed (the listener was cut):
        # what was cached from them is no longer known to be current.
        self._on_resync = on_resync
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._sent = asyncio.Event()  # the outbox has gone out
        self._listener: Any = None
        self._relisten: asyncio.Task[None] | None = None

    def send(self, account_id: AccountId, changes: list[Change]) -> None:
        for payload in encode_changes(self._node, account_id, changes):
            self._outbox.put_nowait(payload)
        self._sent.clear()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="pg-notify")

    async def _send_loop(self) -> None:
        """Sends what is queued, on a connection kept while changes keep coming
        (`SENDER_IDLE`): one made per burst cost more than the notifications
        (asyncpg's connect, its TLS attempt, the close), a sixth of a worker
        delivering on PostgreSQL. With the database away the changes are dropped:
        this node's own sessions have them already, and the other nodes lose
        their connection too (their sessions re-read on the next command)."""
        import asyncpg

        try:
            # Again after the close: a change sent while it was closing found this
            # task still running and started none, so it would wait for the next.
            while not self._outbox.empty():
                conn = await asyncpg.connect(self._dsn)
                try:
                    await self._send_while_busy(conn)
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
        except Exception as exc:  # refused, or cut mid-send (asyncpg's state errors too)
            report(StoreUnavailable(f"{type(exc).__name__}: {exc}"), "change notifications")
            while not self._outbox.empty():
                self._outbox.get_nowait()
        finally:
            self._sent.set()

    async def _send_while_busy(self, conn: Any) -> None:
        """Sends burst after burst until nothing came for `SENDER_IDLE` seconds."""
        first: str | None = None  # the change that ended a wait, ahead of the queue
        while True:
            while first is not None or not self._outbox.empty():
                burst = [first] if first is not None else []
                first = None
                while not self._outbox.empty() and len(burst) < _NOTIFY_BURST:
                    burst.append(self._outbox.get_nowait())
                await conn.execute(_NOTIFY_ALL, CHANNEL, burst)
            self._sent.set()
            try:
                first = await asyncio.wait_for(self._outbox.get(), SENDER_IDLE)
            except TimeoutError:
                return

    async def flush(self) -> None:
        """Waits until every change sent so far has gone out (or was dropped)."""
        if self._sender is not None and not self._sender.done():
            await self._sent.wait()

    async def listen(self) -> None:
        import asyncpg

        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(CHANNEL, self._on_notify)
        self._listener.add_termination_listener(self._on_lost)

    def _on_lost(self, _conn: Any) -> None:
        """The database went away (a restart): listen again once it is back."""
        if self._on_resync is not None:
            self._on_resync()
        if self._listener is not None and self._relisten is None:
            self._relisten = asyncio.get_running_loop().create_task(
                self._listen_again(), name="pg-listen"
            )

    async def _listen_again(self) -> None:
        delay = 0.5
        try:
            while self._listener is not None:
                try:
                    await self.listen()
                    if self._on_resync is not None:
                        self._on_resync()  # what came while nobody listened is lost
                    log.warning("change notifications: listening again")
                    return
                except Exception as exc:
                    log.debug("change notifications: not yet back: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            self._relisten = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            node, account_id, changes = decode_changes(payload)
        except (ValueError, TypeError, KeyError, IndexError):
            log.warning("ignoring a malformed change notification")
            return
        if node != self._node:
            self._hub.deliver_local(account_id, changes)

    async def close(self) -> None:
        await self.flush()
        sender, self._sender = self._sender, None
        if sender is not None:  # idle on its kept connection: closed now
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        listener, self._listener = self._listener, None
        if self._relisten is not None:
            self._relisten.cancel()
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()


class RelayNotifier:
    """A worker's end of the supervisor's relay: one JSON payload per line."""

    def __init__(self, sock: socket.socket, node: str, hub: Hub) -> None:
        self._sock = sock
        self._node = node
        self._hub = hub
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[bytes] = []
        self._reader_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()  # the supervisor is gone: the worker should end

    def send(self, account_id: AccountId, changes: list[Change]) -> None:
        for payload in encode_changes(self._node, account_id, changes):
            self._write(payload.encode() + b"\n")

    def ready(self) -> None:
        self._write(READY)

    def connection_closed(self, number: int) -> None:
        self._write(closed_line(number))

    def _write(self, line: bytes) -> None:
        if self._writer is None:
            self._pending.append(line)
        elif not self._writer.is_closing():
            self._writer.write(line)

    async def listen(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock, limit=1 << 20)
        for line in self._pending:
            self._writer.write(line)
        self._pending.clear()
        self._reader_task = asyncio.create_task(self._read(reader), name="relay")
        self._beat_task = asyncio.create_task(self._beat(), name="relay heartbeat")

    async def _beat(self) -> None:
        """A line a second while the loop turns: a worker whose loop is stuck
        (a runaway computation, a blocking call) falls silent and is replaced."""
        while True:
            self._write(HEARTBEAT)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                node, account_id, changes = decode_changes(line.decode())
            except (ValueError, TypeError, KeyError, IndexError):
                log.warning("ignoring a malformed change from the relay")
                continue
            if node != self._node:
                self._hub.deliver_local(account_id, changes)
        self.closed.set()

    async def close(self) -> None:
        for task in (self._beat_task, self._reader_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._writer is None:
            self._sock.close()
            return
        with contextlib.suppress(Exception):
            await self._writer.drain()
        self._writer.close()


CredentialsReader = Callable[[], Awaitable[dict[AccountId, tuple[int, str]]]]


async def poll_credentials(read: CredentialsReader, hub: Hub, interval: float = 0.5) -> None:
    """Publishes ChangeCredentials when another process changed an account's
    password or logged it out everywhere (SQLite: the CLI is another process)."""
    known = await read()
    while True:
        await asyncio.sleep(interval)
        try:
            current = await read()
        except Exception:
            log.exception("reading credentials failed")
            continue
        for account_id, (generation, password_hash) in current.items():
            before = known.get(account_id)
            if before is None:
                continue
            if generation != before[0]:
                hub.deliver_local(account_id, [ChangeCredentials(generation, logout=True)])
            elif password_hash != before[1]:
                hub.deliver_local(account_id, [ChangeCredentials(generation, logout=False)])
        for account_id in known.keys() - current.keys():
            hub.deliver_local(account_id, [ChangeCredentials(0, logout=True)])
        known = current
