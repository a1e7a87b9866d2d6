"""SEARCH TEXT and BODY over the wire (imaplib) with the full-text index, on
SQLite and PostgreSQL: every header field, decoded bodies (quoted-printable,
base64, RFC 2047 in ISO-8859-1 and UTF-8), HTML as text, attachment names,
substrings within words, case-insensitivity, answers equal to the unindexed
scan, and expunged messages gone."""

from __future__ import annotations

import asyncio
import base64
import imaplib
from collections.abc import AsyncIterator

import pytest_asyncio

from harness import TestServer
from postfach.store.records import Uid

USER = "fts@example.org"
PASSWORD = "fts-secret"

X_HEADER = (
    b"From: Ann <ann@example.net>\r\nTo: fts@example.org\r\nSubject: plain\r\n"
    b"X-Secret-Code: Quetzalcoatl-77\r\n\r\nNothing special here.\r\n"
)
QP_LATIN1 = (
    b"From: Ben <ben@example.net>\r\nTo: fts@example.org\r\n"
    b"Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Sch=F6ne Gr=FC=DFe vom Rhein=\r\nufer nach der Stra=DFenbahnfahrt.\r\n"
)
BASE64_UTF8 = (
    b"From: Cem <cem@example.net>\r\nTo: fts@example.org\r\nSubject: ferry\r\n"
    b"X-Note: =?UTF-8?B?" + base64.b64encode("Frühlingsfest".encode()) + b"?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("Die Überfahrt nach Ærø kostet Ωmega-Preise.\n".encode())
)
HTML_ONLY = (
    b"From: Dora <dora@example.net>\r\nTo: fts@example.org\r\nSubject: agenda\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><p>Tagesordnung der <b>Vorstand</b>ssitzung</p></body></html>\r\n"
)
ATTACHMENTS = (
    b"From: Eva <eva@example.net>\r\nTo: fts@example.org\r\nSubject: figures\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the files.\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="Quartalsbericht-Q3.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    b"--b1\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=UTF-8''%C3%9Cbersicht.xlsx\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b1--\r\n"
)
MESSAGES = [X_HEADER, QP_LATIN1, BASE64_UTF8, HTML_ONLY, ATTACHMENTS]  # UIDs 1..5

# (key, needle, UIDs found)
EXPECTED = [
    ("TEXT", "quetzalcoatl", {1}),  # only in X-Secret-Code
    ("BODY", "quetzalcoatl", set()),
    ("HEADER X-Secret-Code", "coatl-7", {1}),
    ("TEXT", "x-secret-code", {1}),  # the field's name is header text too
    ("BODY", "RHEINUFER", {2}),  # joined across a soft line break
    ("BODY", "grüße", {2}),
    ("SUBJECT", "KÖLN", {2}),  # ISO-8859-1 encoded word
    ("TEXT", "grüße aus köln", {2}),
    ("BODY", "köln", set()),  # only in the subject
    ("BODY", "enbahnfa", {2}),  # inside a word
    ("BODY", "STRASSENBAHN", {2}),  # ß case-folds to ss
    ("BODY", "überfahrt", {3}),
    ("BODY", "ærø", {3}),
    ("BODY", "ωMEGA", {3}),
    ("TEXT", "frühlingsfest", {3}),  # UTF-8 encoded word in X-Note
    ("BODY", "ø", {3}),  # shorter than a trigram: the scan
    ("BODY", "tagesordnung der vorstand", {4}),  # HTML read as text
    ("BODY", "<b>", set()),  # tags are not text
    ("TEXT", "quartalsbericht-q3", {5}),
    ("BODY", "quartalsbericht", set()),  # names count for TEXT, not BODY
    ("TEXT", "übersicht.xlsx", {5}),  # RFC 2231 file name
    ("TEXT", "example.net", {1, 2, 3, 4, 5}),
    ("TEXT", "zebrafisch", set()),
]


@pytest_asyncio.fixture(loop_scope="session")
async def fts(imap: TestServer) -> AsyncIterator[TestServer]:
    """The package's shared server (both backends; a server of its own would empty
    the PostgreSQL database under it), with this module's user for the test."""
    await imap.add_user(USER, PASSWORD)
    yield imap


def connect(server: TestServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    client.login(USER, PASSWORD)
    return client


def uid_search(client: imaplib.IMAP4, key: str, needle: str) -> set[int]:
    if needle.isascii():
        status, data = client.uid("SEARCH", key, f'"{needle}"')
    else:
        client.literal = needle.encode()
        status, data = client.uid("SEARCH", "CHARSET", "UTF-8", key)
    assert status == "OK", data
    return {int(n) for n in data[0].split()}


def fill_and_search(server: TestServer, folder: str) -> dict[tuple[str, str], set[int]]:
    client = connect(server)
    try:
        client.create(folder)
        for raw in MESSAGES:
            assert client.append(folder, None, None, raw)[0] == "OK"
        client.select(folder)
        return {(key, needle): uid_search(client, key, needle) for key, needle, _ in EXPECTED}
    finally:
        client.logout()


async def mailbox_id(server: TestServer, folder: str) -> int:
    account = await server.ctx.store.accounts.get_account(USER)
    assert account is not None
    mailbox = await server.ctx.store.mailboxes.get_mailbox(account.id, folder)
    assert mailbox is not None
    return mailbox.id


async def test_text_and_body_find_decoded_text_headers_and_names(fts: TestServer) -> None:
    assert await fts.ctx.store.mail.text_indexed()
    found = await asyncio.to_thread(fill_and_search, fts, "Decoded")
    assert found == {(key, needle): want for key, needle, want in EXPECTED}


async def test_indexed_answers_equal_the_scan(fts: TestServer) -> None:
    found = await asyncio.to_thread(fill_and_search, fts, "Compared")
    box = await mailbox_id(fts, "Compared")
    keys = {"TEXT": "text", "BODY": "body", "SUBJECT": "subject"}
    for (key, needle), uids in found.items():
        if key in keys:
            scan = await fts.ctx.store.mail.search_text(box, needle, keys[key], indexed=False)
            assert uids == {int(u) for u in scan}, (key, needle)


def expunge_and_copy(server: TestServer) -> list[set[int]]:
    client = connect(server)
    try:
        client.create("Gone")
        client.create("Copies")
        for raw in MESSAGES:
            client.append("Gone", None, None, raw)
        client.select("Gone")
        client.uid("COPY", "1,3", "Copies")
        client.uid("STORE", "1:2", "+FLAGS.SILENT", r"(\Deleted)")
        client.expunge()
        after_expunge = [uid_search(client, "TEXT", "quetzalcoatl")]
        after_expunge.append(uid_search(client, "BODY", "rheinufer"))
        # The same content again: found once, in its new UID (message 2's blob was
        # collected with its index rows and comes back as a new row).
        client.append("Gone", None, None, X_HEADER)
        client.append("Gone", None, None, QP_LATIN1)
        client.select("Gone")
        after_expunge.append(uid_search(client, "TEXT", "quetzalcoatl"))
        after_expunge.append(uid_search(client, "BODY", "rheinufer"))
        client.select("Copies")
        after_expunge.append(uid_search(client, "TEXT", "quetzalcoatl"))
        after_expunge.append(uid_search(client, "BODY", "überfahrt"))
        return after_expunge
    finally:
        client.logout()


async def test_expunged_messages_are_gone_and_copies_found(fts: TestServer) -> None:
    found = await asyncio.to_thread(expunge_and_copy, fts)
    gone, gone_body, again, again_body, copied, copied_body = found
    assert gone == set() and gone_body == set()
    assert again == {6} and again_body == {7}
    assert copied == {1} and copied_body == {2}
    box = await mailbox_id(fts, "Gone")
    assert await fts.ctx.store.mail.search_text(box, "quetzalcoatl", "text") == {Uid(6)}
