"""The full-text index answers exactly what the scan answers (hypothesis), with
any part of the messages still queued for indexing, and both answer what the
decoded text holds, on SQLite and PostgreSQL; queued blobs survive a reopen and
are indexed then; migrate indexes a database made before the index and moves
one indexed at delivery to the deferred queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import quopri
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import BACKENDS, new_inbox, storage_url
from postfach.store import Store, textfile
from postfach.store.backup import backup_sqlite, restore_sqlite
from postfach.store.records import MailboxId, Uid
from postfach.textindexer import BATCH, run_indexer

# Letters with case pairs, ß (folds to "ss"), quotes and FTS5 syntax characters.
ALPHABET = "abcxyzABÄäßöÖΩω \"*():-.'"
ENCODINGS = ("7bit", "quoted-printable", "base64", "latin-1")
boxes = itertools.count()


def mime(subject: str, body: str, encoding: str) -> bytes:
    subject_word = base64.b64encode(subject.encode()).decode()
    header = (
        f"From: x@example.net\r\nTo: y@example.org\r\nSubject: =?UTF-8?B?{subject_word}?=\r\n"
        "MIME-Version: 1.0\r\n"
    ).encode()
    if encoding == "latin-1" and body.isascii() is False and all(ord(c) < 256 for c in body):
        data = quopri.encodestring(body.encode("latin-1"))
        return header + (
            b"Content-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + data
        )
    if encoding == "base64":
        data = base64.encodebytes(body.encode())
        return header + (
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + data
        )
    if encoding == "quoted-printable":
        data = quopri.encodestring(body.encode())
        return header + (
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + data
        )
    return header + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode()


texts = st.text(alphabet=ALPHABET, min_size=0, max_size=40)
mails = st.lists(st.tuples(texts, texts, st.sampled_from(ENCODINGS)), min_size=1, max_size=5)


@st.composite
def needles_for(draw: st.DrawFn, bodies: list[str]) -> list[str]:
    """Pieces of the texts (so that some are found) and free strings."""
    out = []
    for body in bodies:
        if body:
            start = draw(st.integers(0, len(body) - 1))
            out.append(body[start : start + draw(st.integers(1, 8))])
    out += draw(st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=6), max_size=3))
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), messages=mails)
async def test_index_answers_as_the_scan_does(
    store: Store, data: st.DataObject, messages: list[tuple[str, str, str]]
) -> None:
    account = await store.accounts.get_account("fts@example.org")
    if account is None:
        await store.accounts.add_domain("example.org")
        account = await store.accounts.add_account("fts@example.org", "x")
    assert await store.mail.text_indexed()
    box = await store.mailboxes.create_mailbox(account.id, f"box{next(boxes)}")
    for subject, body, encoding in messages:
        await store.mail.append(box.id, mime(subject, body, encoding))
        # Some indexed, the rest still queued: the answers must not tell.
        await store.mail.index_pending(data.draw(st.integers(0, 1)))
    for needle in data.draw(needles_for([body for _, body, _ in messages])):
        for where in ("text", "body", "subject", "from"):
            indexed = await store.mail.search_text(box.id, needle, where)
            scanned = await store.mail.search_text(box.id, needle, where, indexed=False)
            assert indexed == scanned, (needle, where)
        body_hits = {
            uid
            for uid, (_, body, _) in enumerate(messages, 1)
            if needle.casefold() in body.casefold()
        }
        assert {int(u) for u in await store.mail.search_text(box.id, needle, "body")} == body_hits
        words = needle.split()
        if words:
            everywhere = await store.mail.search_account(account.id, needle)
            scanned_all = await store.mail.search_account(account.id, needle, indexed=False)
            assert {m.id for _, m in everywhere} == {m.id for _, m in scanned_all}


NEW_SCHEMA = (
    "DROP TRIGGER blobs_text_queue",
    "DROP TRIGGER blobs_text_unindex",
    "DROP TRIGGER blobs_text_requeue",
    "DROP TABLE text_pending",
    "DROP TABLE text_gone",
    "DELETE FROM meta WHERE key = 'text_index'",
)
# The index of words as the database itself held it, before its own file.
IN_THE_DATABASE = (
    "CREATE TABLE text_pending (sha256 VARCHAR(64) NOT NULL PRIMARY KEY"
    " REFERENCES blobs (sha256) ON DELETE CASCADE)",
    "CREATE TABLE blob_words (id INTEGER PRIMARY KEY, sha256 VARCHAR(64) NOT NULL UNIQUE,"
    " s_head TEXT NOT NULL, s_body TEXT NOT NULL)",
    "INSERT INTO blob_words (sha256, s_head, s_body) SELECT sha256, s_head, s_body FROM blobs",
    "CREATE VIRTUAL TABLE words_fts USING fts5(s_head, s_body, content='blob_words',"
    " content_rowid='id', tokenize='trigram case_sensitive 1', detail='column')",
    "INSERT INTO words_fts (words_fts) VALUES ('rebuild')",
    "CREATE TRIGGER blob_words_insert AFTER INSERT ON blob_words BEGIN"
    " INSERT INTO words_fts (rowid, s_head, s_body) VALUES (new.id, new.s_head, new.s_body);"
    " END",
    "CREATE TRIGGER blobs_text_unindex AFTER DELETE ON blobs BEGIN"
    " DELETE FROM text_pending WHERE sha256 = old.sha256;"
    " DELETE FROM blob_words WHERE sha256 = old.sha256; END",
)
# The index as delivery kept it, before indexing was deferred.
AT_DELIVERY = (
    "CREATE VIRTUAL TABLE blobs_fts USING fts5(s_head, s_body, content='blobs',"
    " content_rowid='rowid', tokenize='trigram case_sensitive 1', detail='column')",
    "INSERT INTO blobs_fts (blobs_fts) VALUES ('rebuild')",
    "CREATE TRIGGER blobs_fts_insert AFTER INSERT ON blobs BEGIN"
    " INSERT INTO blobs_fts (rowid, s_head, s_body) VALUES (new.rowid, new.s_head, new.s_body);"
    " END",
    "CREATE TRIGGER blobs_fts_delete AFTER DELETE ON blobs BEGIN"
    " INSERT INTO blobs_fts (blobs_fts, rowid, s_head, s_body)"
    " VALUES ('delete', old.rowid, old.s_head, old.s_body); END",
)


async def old_database(path: Path, statements: tuple[str, ...]) -> MailboxId:
    """A store with one message, then changed by `statements` into an older shape."""
    store = await Store.connect(f"sqlite:///{path}")
    inbox = await new_inbox(store, "old@example.org")
    await store.mail.append(inbox.id, b"From: a@example.net\r\nX-Old: Vorgestern\r\n\r\nAltbau\r\n")
    await store.close()
    db = sqlite3.connect(path)
    for statement in NEW_SCHEMA + statements:
        db.execute(statement)
    db.commit()
    db.close()
    textfile.remove(str(path))
    return MailboxId(inbox.id)


async def test_migrate_indexes_a_database_made_before_the_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    box = await old_database(path, ("ALTER TABLE blobs DROP COLUMN s_head",))
    store = await Store.connect(f"sqlite:///{path}")
    try:
        assert await store.mail.text_indexed()
        assert await store.mail.pending_index() == 1  # queued for the indexer
        for indexed in (False, True):
            if indexed:
                assert await store.mail.index_pending() == 1
            assert await store.mail.search_text(box, "vorgestern", "text") == {1}
            assert await store.mail.search_text(box, "altbau", "body") == {1}
            assert await store.mail.search_text(box, "vorgestern", "body") == set()
        assert await store.mail.pending_index() == 0
    finally:
        await store.close()


async def test_migrate_moves_an_index_kept_at_delivery_to_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "delivery-indexed.db"
    box = await old_database(path, AT_DELIVERY)
    store = await Store.connect(f"sqlite:///{path}")
    try:
        assert await store.mail.pending_index() == 1
        await store.mail.append(box, b"From: a@example.net\r\n\r\nSchaufelradbagger\r\n")
        await store.mail.append(box, b"From: b@example.net\r\n\r\nSchaufelraddampfer\r\n")
        assert await store.mail.pending_index() == 3
        assert await store.mail.search_text(box, "schaufelrad", "body") == {2, 3}
        assert await store.mail.index_pending(2) == 2
        assert await store.mail.search_text(box, "schaufelrad", "body") == {2, 3}
        assert await store.mail.search_text(box, "altbau", "body") == {1}
        # Indexed and queued blobs go: their words and the index with them.
        await store.mail.delete_messages(box, [Uid(1), Uid(2), Uid(3)])
        assert await store.mail.pending_index() == 0
        assert await store.mail.search_text(box, "schaufelrad", "body") == set()
        # Their words leave the index's file at the indexer's next round.
        assert await store.mail.index_pending() == 3
        assert await store.mail.index_pending() == 0
    finally:
        await store.close()
    check = sqlite3.connect(path)
    tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    assert "blobs_fts" not in tables and "blobs_fts_insert" not in tables
    assert "words_fts" not in tables and "blob_words" not in tables
    assert check.execute("SELECT count(*) FROM text_gone").fetchone() == (0,)
    check.close()
    index = sqlite3.connect(textfile.path_for(str(path)))
    assert index.execute("SELECT count(*) FROM blob_words").fetchone() == (0,)
    index.execute("INSERT INTO words_fts (words_fts) VALUES ('integrity-check')")
    index.close()


async def test_migrate_moves_the_words_out_of_the_database(tmp_path: Path) -> None:
    """A database that kept the index of words itself: it goes, and the index's
    own file is made and filled."""
    path = tmp_path / "words-inside.db"
    box = await old_database(path, IN_THE_DATABASE)
    store = await Store.connect(f"sqlite:///{path}")
    try:
        assert await store.mail.pending_index() == 1
        assert await store.mail.search_text(box, "altbau", "body") == {1}
        assert await store.mail.index_pending() == 1
        assert await store.mail.search_text(box, "altbau", "body") == {1}
        assert await store.mail.search_text(box, "vorgestern", "text") == {1}
    finally:
        await store.close()
    check = sqlite3.connect(path)
    tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    assert not {"words_fts", "blob_words", "blob_words_insert"} & tables
    check.close()


async def test_an_index_file_of_another_database_is_made_anew(tmp_path: Path) -> None:
    """The index's file is derived: one left from another database (or from this
    one before a restore) must not stand for this one's blobs."""
    stores = []
    for name in ("a", "b"):
        store = await Store.connect(f"sqlite:///{tmp_path / name}.db")
        inbox = await new_inbox(store, f"{name}@example.org")
        await store.mail.append(inbox.id, b"Subject: %s\r\n\r\nLeuchtturm\r\n" % name.encode())
        while await store.mail.index_pending():
            pass
        await store.close()
        stores.append(inbox.id)
    os.replace(textfile.path_for(f"{tmp_path}/a.db"), textfile.path_for(f"{tmp_path}/b.db"))
    textfile.remove(f"{tmp_path}/a.db")
    for name, box in zip(("a", "b"), stores, strict=True):
        store = await Store.connect(f"sqlite:///{tmp_path / name}.db")
        try:
            assert await store.mail.pending_index() == 1, name
            assert await store.mail.search_text(MailboxId(box), "leuchtturm", "body") == {1}
            assert await store.mail.index_pending() == 1
            assert await store.mail.search_text(MailboxId(box), "leuchtturm", "body") == {1}
        finally:
            await store.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_queued_blobs_survive_a_reopen_and_are_indexed(backend: str, tmp_path: Path) -> None:
    """A store closed (or a server killed) before its indexer ran: the queue is
    part of each delivery's transaction, so the next start finds and indexes it."""
    url = await storage_url(backend, tmp_path)
    store = await Store.connect(url)
    inbox = await new_inbox(store, "crash@example.org")
    box = MailboxId(inbox.id)
    for n in range(5):
        await store.mail.append(box, b"Subject: n%d\r\n\r\nKreuzfahrtschiff %d\r\n" % (n, n))
    await store.close()
    store = await Store.connect(url)
    try:
        assert await store.mail.pending_index() == 5
        assert await store.mail.search_text(box, "fahrtschiff 3", "body") == {4}
        while await store.mail.index_pending(2):
            pass
        assert await store.mail.pending_index() == 0
        assert await store.mail.search_text(box, "fahrtschiff 3", "body") == {4}
        assert await store.mail.search_text(box, "kreuzfahrt", "text") == {1, 2, 3, 4, 5}
        found = await store.mail.search_account(inbox.account_id, "fahrtschiff")
        assert len(found) == 5
    finally:
        await store.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_servers_indexer_empties_the_queue(backend: str, tmp_path: Path) -> None:
    url = await storage_url(backend, tmp_path)
    store = await Store.connect(url)
    try:
        inbox = await new_inbox(store, "indexer@example.org")
        for n in range(BATCH + 30):  # more than one batch
            await store.mail.append(inbox.id, b"Subject: %d\r\n\r\nBinnenhafen %03d\r\n" % (n, n))
        indexer = asyncio.create_task(run_indexer(store.mail, idle=0.02))
        try:
            for _ in range(500):
                if not await store.mail.pending_index():
                    break
                await asyncio.sleep(0.02)
        finally:
            indexer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await indexer
        assert await store.mail.pending_index() == 0
        assert await store.mail.search_text(inbox.id, "binnenhafen 017", "body") == {18}
    finally:
        await store.close()


async def test_a_restore_makes_the_index_anew(tmp_path: Path) -> None:
    """A backup holds no index. Restored over a database whose index has since
    lost the words of mail deleted after the backup, that mail must be found."""
    path, copy = tmp_path / "live.db", tmp_path / "backup.db"
    store = await Store.connect(f"sqlite:///{path}")
    inbox = await new_inbox(store, "restore@example.org")
    await store.mail.append(inbox.id, b"Subject: s\r\n\r\nFlaschenpost\r\n")
    while await store.mail.index_pending():
        pass
    await store.close()
    await asyncio.to_thread(backup_sqlite, path, copy)
    store = await Store.connect(f"sqlite:///{path}")
    await store.mail.delete_messages(inbox.id, [Uid(1)])
    while await store.mail.index_pending():  # the words go
        pass
    await store.close()
    await asyncio.to_thread(restore_sqlite, copy, path)
    store = await Store.connect(f"sqlite:///{path}")
    try:
        assert await store.mail.search_text(inbox.id, "flaschenpost", "body") == {1}
        assert await store.mail.index_pending() == 1
        assert await store.mail.search_text(inbox.id, "flaschenpost", "body") == {1}
    finally:
        await store.close()
