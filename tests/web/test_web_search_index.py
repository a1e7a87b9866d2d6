"""The webmail's search across all folders goes through the full-text index, on
SQLite and PostgreSQL: decoded bodies, words found inside words, every folder,
and the same answers as the unindexed scan."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import BACKENDS, TestServer, make_server

from .webhelpers import PASSWORD, client_for, make_message, put, sign_in

QP_BODY = (
    b"From: Ben <ben@example.net>\r\nTo: alice@example.org\r\nSubject: Ausflug\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Treffpunkt am Br=FCckenkopf um zehn.\r\n"
)
BASE64_BODY = (
    b"From: Cem <cem@example.net>\r\nTo: alice@example.org\r\nSubject: Fahrplan\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("Die Brückenkopf-Fähre fährt stündlich.\n".encode())
)


@pytest.fixture(params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    async with make_server(tmp_path, request.param) as running:
        yield running


async def test_search_across_folders_uses_the_index(server: TestServer) -> None:
    alice = await server.add_user("alice@example.org", PASSWORD)
    store = server.ctx.store
    assert await store.mail.text_indexed()
    await store.mailboxes.create_mailbox(alice.id, "Archiv/2024")
    await put(server.ctx, alice, "INBOX", QP_BODY)
    await put(server.ctx, alice, "Archiv/2024", BASE64_BODY)
    await put(server.ctx, alice, "Trash", make_message("Brückenbau", "Statik"))
    await put(server.ctx, alice, "Spam", make_message("Gewinn", "nichts"))
    async with client_for(server.ctx) as client:
        await sign_in(client, "alice@example.org")
        page = (await client.get("/mail/search", params={"q": "BRÜCKENKOPF"})).text
        assert ">Ausflug</a>" in page and ">Fahrplan</a>" in page
        assert "<td>INBOX</td>" in page and "<td>Archiv/2024</td>" in page
        assert "Brückenbau" not in page and "Gewinn" not in page
        page = (await client.get("/mail/search", params={"q": "ückenb"})).text  # inside a word
        assert ">Brückenbau</a>" in page and "<td>Trash</td>" in page and "Ausflug" not in page
        page = (await client.get("/mail/search", params={"q": "fähre stündlich"})).text
        assert ">Fahrplan</a>" in page and "Ausflug" not in page
        assert "Nothing found." in (await client.get("/mail/search?q=zebrafisch")).text
    for query in ("brückenkopf", "ückenb", "fähre stündlich", "zehn", "ben@", "st", "zebrafisch"):
        indexed = await store.mail.search_account(alice.id, query)
        scanned = await store.mail.search_account(alice.id, query, indexed=False)
        assert {m.id for _, m in indexed} == {m.id for _, m in scanned}, query
