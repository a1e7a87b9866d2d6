"""MessageReader: one store call per message, or a batch ahead when the store can."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from postfach.pop3.maildrop import Maildrop
from postfach.pop3.reader import MessageReader
from postfach.store.api import NotFound
from postfach.store.records import StoredMessage

from .helpers import PASSWORD, fill, message


class BatchingStore:
    """The real store plus `read_raws`, the batch read the reader uses when offered."""

    def __init__(self, store) -> None:
        self._store = store
        self.batches: list[int] = []

    @property
    def mail(self):  # the reader reads through the mail role: this stands in for it
        return self

    def __getattr__(self, name):
        return getattr(self._store.mail, name)

    async def read_raws(self, messages: Sequence[StoredMessage]) -> dict[int, bytes]:
        self.batches.append(len(messages))
        raws = await asyncio.gather(*(self._store.mail.read_raw(m) for m in messages))
        return {m.id: raw for m, raw in zip(messages, raws, strict=True)}


@pytest.fixture
async def maildrop(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(n) for n in range(1, 11)])
    return await Maildrop.load(server.ctx.store, account)


async def test_without_batches_each_message_is_read(server, maildrop):
    reader = MessageReader(server.ctx.store, maildrop.entries)
    data = await reader.read(3)
    assert b"Subject: message 3\r\n" in data


async def test_sequential_download_is_one_batch(server, maildrop):
    store = BatchingStore(server.ctx.store)
    reader = MessageReader(store, maildrop.entries)
    for n in range(1, 11):
        assert b"Subject: message %d\r\n" % n in await reader.read(n)
        maildrop.entries[n - 1].retrieved = True
    assert store.batches == [10]


async def test_batches_skip_deleted_and_keep_for_top(server, maildrop):
    store = BatchingStore(server.ctx.store)
    reader = MessageReader(store, maildrop.entries)
    maildrop.entries[1].deleted = True
    assert b"message 1" in await reader.read(1, keep=True)
    assert store.batches == [9]
    assert b"message 1" in await reader.read(1)  # TOP kept it for RETR
    assert b"message 3" in await reader.read(3)
    maildrop.entries[0].retrieved = maildrop.entries[2].retrieved = True
    assert b"message 2" in await reader.read(2)  # not prefetched: a new batch
    assert store.batches == [9, 8]  # 2, and 4 to 10 (3 is retrieved)


async def test_gone_message_raises_not_found(server, maildrop):
    first = maildrop.entries[0].message.id

    class Forgetful(BatchingStore):
        async def read_raws(self, messages):
            found = await super().read_raws(messages)
            found.pop(first, None)
            return found

    reader = MessageReader(Forgetful(server.ctx.store), maildrop.entries)
    with pytest.raises(NotFound):
        await reader.read(1)
    assert b"message 2" in await reader.read(2)
