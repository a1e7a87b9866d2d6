"""BURL (RFC 4468) at submission: a draft saved over IMAP, made a URLAUTH URL for
(RFC 4467, `;urlauth=submit+user`), is sent by reference with smtplib instead of
being uploaded twice; as in RFC 4468 §7's example. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.imap.imapwire import Wire as ImapWire

from harness import BACKENDS, TestServer, make_server
from support.net import insecure_tls_context

from .smtpmailbox import messages_in

HOST = "mail.example.org"
DRAFT = (
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: by reference\r\n"
    b"Message-ID: <burl@example.org>\r\n\r\nSent without a second upload.\r\n"
)


@pytest.fixture(params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    async with make_server(tmp_path, request.param) as running:
        await running.add_user("a@example.org", "pw")
        await running.add_user("b@example.org", "pw")
        yield running


async def draft_url(server: TestServer, access: str = "submit+a%40example.org") -> str:
    """The draft in Drafts, and a URLAUTH URL for it from GENURLAUTH."""
    imap = await ImapWire.connect(server.host, server.port("imap"))
    try:
        await imap.login("a@example.org", "pw")
        _, status = await imap.cmd(b"APPEND Drafts {%d+}\r\n" % len(DRAFT) + DRAFT)
        found = re.search(r"APPENDUID (\d+) (\d+)", status)
        assert found is not None, status
        rump = (
            f"imap://a%40example.org@{HOST}/Drafts;uidvalidity={found.group(1)}"
            f"/;uid={found.group(2)};urlauth={access}"
        )
        (line,) = await imap.ok(f'GENURLAUTH "{rump}" INTERNAL')
        return line.split('"')[1]
    finally:
        await imap.close()


async def imap_ok(server: TestServer, command: str) -> None:
    imap = await ImapWire.connect(server.host, server.port("imap"))
    try:
        await imap.login("a@example.org", "pw")
        await imap.ok(command)
    finally:
        await imap.close()


def submit(server: TestServer, *commands: str) -> list[tuple[int, bytes]]:
    """smtplib over STARTTLS, AUTH, MAIL, RCPT, then `commands` (BURL ...) as they are."""
    with smtplib.SMTP(server.host, server.port("submission"), timeout=10) as client:
        client.starttls(context=insecure_tls_context())
        client.ehlo()
        assert not client.has_extn("burl")  # RFC 4468 §3: only after AUTH
        client.login("a@example.org", "pw")
        client.ehlo()
        assert client.esmtp_features["burl"] == "imap"
        client.mail("a@example.org")
        client.rcpt("b@example.org")
        return [client.docmd(*command.split(" ", 1)) for command in commands]


async def test_burl_sends_the_draft(server: TestServer) -> None:
    url = await draft_url(server)
    [reply] = await asyncio.to_thread(submit, server, f"BURL {url} LAST")
    assert reply[0] == 250, reply
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert raw.endswith(DRAFT)


async def test_burl_chunks_join(server: TestServer) -> None:
    url = await draft_url(server)
    replies = await asyncio.to_thread(submit, server, f"BURL {url}", f"BURL {url} LAST")
    assert replies[0] == (250, b"2.5.0 Waiting for additional BURL or BDAT commands")
    assert replies[1][0] == 250, replies
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert raw.endswith(DRAFT + DRAFT)


async def test_burl_refusals(server: TestServer) -> None:
    url = await draft_url(server)
    forged = url[:-1] + ("1" if url.endswith("0") else "0")
    mine = await draft_url(server, "user+b%40example.org")  # for b's IMAP session only
    failed = (554, b"5.6.6 IMAP URL resolution failed")
    assert await asyncio.to_thread(submit, server, f"BURL {forged} LAST") == [failed]
    assert await asyncio.to_thread(submit, server, f"BURL {mine} LAST") == [failed]
    assert await asyncio.to_thread(submit, server, "BURL https://example.org/x LAST") == [
        (554, b"5.3.3 Unrecognized URL type")
    ]
    assert await asyncio.to_thread(submit, server, f"BURL {url} NOW") == [
        (501, b"5.5.4 Syntax error in parameters or arguments")
    ]
    # RESETKEY: URLs made before stop working
    await imap_ok(server, "RESETKEY")
    assert await asyncio.to_thread(submit, server, f"BURL {url} LAST") == [failed]
    assert await messages_in(server.ctx.store, "b@example.org") == []
