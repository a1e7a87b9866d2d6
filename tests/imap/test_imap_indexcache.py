"""SELECT reuses a mailbox's index, brought up to date with the changes since it
was kept (imap/indexcache.py), and the indexes kept stay within
limits.imap_index_cache_messages."""

from __future__ import annotations

import random
import re

import pytest
from tests.imap.conftest import PASSWORD, USER
from tests.imap.imapwire import Wire
from tests.imap.messages import SIMPLE, literal

from harness import BACKENDS, make_server
from postfach.imap import indexcache


async def test_cached_index_follows_every_change(imap, wire, monkeypatch):
    monkeypatch.setattr(indexcache, "MIN_MESSAGES", 1)
    store = imap.ctx.store
    reads = []
    original = store.mail.mailbox_index

    async def mailbox_index(mailbox_id):
        reads.append(mailbox_id)
        return await original(mailbox_id)

    monkeypatch.setattr(store.mail, "mailbox_index", mailbox_index)
    a = await wire()
    for _ in range(3):
        await a.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("SELECT INBOX")
    await a.ok("SELECT INBOX")
    assert len(reads) == 1  # nothing changed: the kept index
    b = await wire(select="INBOX")
    assert len(reads) == 1
    await b.ok("STORE 2 +FLAGS (\\Flagged $Work)")
    await b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    await b.ok("EXPUNGE")
    await b.ok(b"APPEND INBOX " + literal(SIMPLE))
    await a.ok("UNSELECT")
    untagged = await a.ok("SELECT INBOX")
    assert len(reads) == 1  # the kept index, with B's changes applied
    assert "* 3 EXISTS" in untagged
    assert await a.ok("UID FETCH 1:* (FLAGS)") == [
        "* 1 FETCH (UID 1 FLAGS ())",
        "* 2 FETCH (UID 2 FLAGS (\\Flagged $Work))",
        "* 3 FETCH (UID 4 FLAGS ())",
    ]
    assert await a.ok("SELECT INBOX") and len(reads) == 1
    await a.ok("STORE 1 +FLAGS.SILENT (\\Seen)")  # changed by the selecting session itself
    await a.ok("SELECT INBOX")
    assert len(reads) == 1
    assert await a.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Seen))"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_cache_holds_at_most_its_messages(tmp_path, monkeypatch, backend):
    """limits.imap_index_cache_messages bounds the messages kept over all mailboxes:
    the least recently selected goes first, a mailbox bigger than the bound is
    never kept."""
    monkeypatch.setattr(indexcache, "MIN_MESSAGES", 1)
    async with make_server(tmp_path, backend, limits={"imap_index_cache_messages": 5}) as server:
        await server.add_user(USER, PASSWORD)
        store = server.ctx.store
        cache = server.ctx.index_cache
        assert isinstance(cache, indexcache.IndexCache)
        reads: list[int] = []
        original = store.mail.mailbox_index

        async def mailbox_index(mailbox_id):
            reads.append(mailbox_id)
            return await original(mailbox_id)

        monkeypatch.setattr(store.mail, "mailbox_index", mailbox_index)
        c = await Wire.connect(server.host, server.port("imap"))
        try:
            await c.login(USER, PASSWORD)
            await c.ok("CREATE Work")
            for mailbox in ("INBOX", "Work"):
                for _ in range(3):
                    await c.ok(f"APPEND {mailbox} ".encode() + literal(SIMPLE))
            await c.ok("SELECT INBOX")
            await c.ok("SELECT INBOX")
            assert len(reads) == 1 and cache.messages == 3
            await c.ok("SELECT Work")  # 3 + 3 > 5: INBOX goes
            assert len(reads) == 2 and cache.messages == 3
            await c.ok("SELECT INBOX")
            assert len(reads) == 3 and cache.messages == 3
            await c.ok("SELECT INBOX")
            assert len(reads) == 3
            for _ in range(3):
                await c.ok(b"APPEND Work " + literal(SIMPLE))
            await c.ok("SELECT Work")  # 6 messages: more than the whole cache holds
            await c.ok("SELECT Work")
            assert len(reads) == 5 and cache.messages == 3
            assert "* 6 EXISTS" in await c.ok("SELECT Work")
        finally:
            await c.close()


FETCHED = re.compile(
    r"UID (\d+) .*FLAGS \(([^)]*)\) MODSEQ \((\d+)\)"
    r"|UID (\d+) .*MODSEQ \((\d+)\) .*FLAGS \(([^)]*)\)"
)


def _parsed(lines: list[str]) -> list[tuple[int, frozenset[str], int]]:
    rows = []
    for line in lines:
        if " FETCH (" not in line:
            continue  # what else the server says of the mailbox
        m = FETCHED.search(line)
        assert m is not None, line
        if m.group(1):
            uid, flags, modseq = m.group(1), m.group(2), m.group(3)
        else:
            uid, modseq, flags = m.group(4), m.group(5), m.group(6)
        rows.append((int(uid), frozenset(flags.split()) - {"\\Recent"}, int(modseq)))
    return rows


async def test_a_kept_index_brought_up_to_date_equals_a_fresh_read(imap, wire, monkeypatch):
    """Rounds of random changes by other sessions (appends, flags, a few and many
    expunged, messages moved in); after each, SELECT from the kept index shows
    exactly what a fresh read of the mailbox does."""
    monkeypatch.setattr(indexcache, "MIN_MESSAGES", 1)
    rng = random.Random(20)
    store = imap.ctx.store
    read_index = store.mail.mailbox_index
    reads = []

    async def mailbox_index(mailbox_id):
        reads.append(mailbox_id)
        return await read_index(mailbox_id)

    monkeypatch.setattr(store.mail, "mailbox_index", mailbox_index)
    a, b, c = await wire(), await wire(), await wire()
    await b.ok("CREATE Other")
    for _ in range(60):
        await b.ok(b"APPEND INBOX " + literal(SIMPLE))
    await b.ok("SELECT INBOX")
    await c.ok("SELECT Other")
    await a.ok("SELECT INBOX")
    account = await store.accounts.get_account(USER)
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")

    async def uids() -> list[int]:
        (line,) = [x for x in await b.ok("UID SEARCH ALL") if x.startswith("* SEARCH")]
        return [int(u) for u in line.split()[2:]]

    async def expunge(count: int) -> None:
        chosen = rng.sample(await uids(), count)
        listed = ",".join(map(str, chosen))
        await b.ok(f"UID STORE {listed} +FLAGS.SILENT (\\Deleted)")
        await b.ok(f"UID EXPUNGE {listed}")

    for _round in range(12):
        for _ in range(rng.randint(1, 5)):
            op = rng.choice(["append", "flags", "few", "many", "move"])
            if op == "append":
                await b.ok(b"APPEND INBOX ($Kept) " + literal(SIMPLE))
            elif op == "flags":
                chosen = ",".join(map(str, rng.sample(await uids(), 5)))
                sign = rng.choice("+-")
                await b.ok(f"UID STORE {chosen} {sign}FLAGS.SILENT (\\Seen $K{rng.randint(1, 3)})")
            elif op == "few":
                await expunge(rng.randint(1, 3))
            elif op == "many" and len(await uids()) > 40:
                await expunge(20)  # past the one-by-one removal
            elif op == "move":
                await c.ok(b"APPEND Other (\\Flagged) " + literal(SIMPLE))
                await c.ok("UID MOVE 1:* INBOX")
        await a.ok("SELECT INBOX")
        shown = _parsed(await a.ok("UID FETCH 1:* (FLAGS MODSEQ)"))
        fresh = await read_index(inbox.id)
        assert shown == [
            (uid, flags - {"\\Recent"}, modseq)
            for uid, flags, modseq in zip(fresh.uids, fresh.flags, fresh.modseqs, strict=True)
        ]
    # B's SELECT read INBOX; A's SELECTs took that index, brought up to date.
    assert reads.count(inbox.id) == 1
