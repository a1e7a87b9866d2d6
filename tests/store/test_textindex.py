"""The full-text index answers exactly what the scan answers (hypothesis), and
both answer what the decoded text holds, on SQLite and PostgreSQL; migrate
indexes a database made before the index."""

from __future__ import annotations

import base64
import itertools
import quopri
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.store import Store
from postfach.store.records import MailboxId

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


async def test_migrate_indexes_a_database_made_before_the_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = await Store.connect(f"sqlite:///{path}")
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("old@example.org", "x")
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.mail.append(inbox.id, b"From: a@example.net\r\nX-Old: Vorgestern\r\n\r\nAltbau\r\n")
    await store.close()
    # Back to how a database looked before: no s_head, no index, no triggers.
    db = sqlite3.connect(path)
    for name in ("insert", "delete", "update"):
        db.execute(f"DROP TRIGGER blobs_fts_{name}")
    db.execute("DROP TABLE blobs_fts")
    db.execute("ALTER TABLE blobs DROP COLUMN s_head")
    db.commit()
    db.close()
    store = await Store.connect(f"sqlite:///{path}")
    try:
        assert await store.mail.text_indexed()
        box = MailboxId(inbox.id)
        assert await store.mail.search_text(box, "vorgestern", "text") == {1}
        assert await store.mail.search_text(box, "altbau", "body") == {1}
        assert await store.mail.search_text(box, "vorgestern", "body") == set()
    finally:
        await store.close()
