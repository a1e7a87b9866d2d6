"""DNSBL and greylisting at the MX, over SMTP, with a loopback DNS server
(dnsbl_server.py) and a greylist delay of a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import TestServer, make_server
from postfach.smtp import replies
from postfach.smtp.mxchecks import client_network, dnsbl_name

from .dnsbl_server import dnsbl_server
from .smtpmailbox import messages_in
from .smtpwire import Wire, reply_of

MESSAGE = b"From: bob@sender.test\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
BLOCKED = (554, "5.7.1 Service unavailable; client [127.0.0.1] blocked using listed.test")


@pytest.fixture
def dns() -> Iterator[tuple[str, list[str]]]:
    with dnsbl_server() as running:
        yield running


async def open_mx(server: TestServer, listener: str = "smtp") -> Wire:
    wire = await Wire.open(server.host, server.port(listener))
    await wire.start()
    return wire


async def deliver(
    server: TestServer, recipient: str, sender: str = "bob@sender.test"
) -> tuple[int, str]:
    """A stranger's message: the RCPT reply if refused, else the reply to DATA."""
    wire = await open_mx(server)
    try:
        await wire.expect(f"MAIL FROM:<{sender}>", 250)
        got = await wire.cmd(f"RCPT TO:<{recipient}>")
        if got[0] != 250:
            return got
        await wire.expect("DATA", 354)
        await wire.send(MESSAGE + b".\r\n")
        return await wire.reply()
    finally:
        await wire.close()


def test_dnsbl_names_and_greylist_networks() -> None:
    assert dnsbl_name("192.0.2.99", "zen.example") == "99.2.0.192.zen.example"
    assert dnsbl_name("2001:db8:1:2::abcd", "bl.test.") == (
        "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"
    )
    assert client_network("192.0.2.99") == "192.0.2.0/24"
    assert client_network("::ffff:192.0.2.99") == "192.0.2.0/24"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"


async def test_listed_client_refused_at_rcpt(tmp_path: Path, dns: tuple[str, list[str]]) -> None:
    resolver, asked = dns
    mx = {"dnsbl": ["clean.test", "listed.test"], "dnsbl_resolver": resolver}
    async with make_server(tmp_path, mx=mx) as server:
        await server.add_user("alice@example.org", "pw")
        assert await deliver(server, "alice@example.org") == BLOCKED
        assert "1.0.0.127.listed.test." in asked and "1.0.0.127.clean.test." in asked
        # RFC 2142: the listed sender can still write to postmaster@ and abuse@.
        assert (await deliver(server, "postmaster@example.org"))[0] == 250
        # A logged-in user on port 25 is not looked up.
        wire = await open_mx(server)
        await wire.login("alice@example.org", "pw")
        await wire.expect("MAIL FROM:<alice@example.org>", 250)
        await wire.expect("RCPT TO:<alice@example.org>", 250)
        await wire.close()
        # Submission never is either.
        wire = await open_mx(server, "submission")
        await wire.login("alice@example.org", "pw")
        await wire.expect("MAIL FROM:<alice@example.org>", 250)
        await wire.expect("RCPT TO:<alice@example.org>", 250)
        await wire.close()


async def test_unlisted_refused_and_silent_zones_let_mail_in(
    tmp_path: Path, dns: tuple[str, list[str]]
) -> None:
    resolver, asked = dns
    zones = ["clean.test", "refused.test", "silent.test"]
    mx = {"dnsbl": zones, "dnsbl_resolver": resolver, "dnsbl_timeout": 0.5}
    async with make_server(tmp_path, mx=mx) as server:
        await server.add_user("alice@example.org", "pw")
        started = time.monotonic()
        assert (await deliver(server, "alice@example.org"))[0] == 250
        assert time.monotonic() - started < 2.5  # the silent zone was not waited out
        assert len(await messages_in(server.ctx.store, "alice@example.org")) == 1
        assert "1.0.0.127.silent.test." in asked


async def test_dnsbl_off_by_default(server: TestServer) -> None:
    await server.add_user("alice@example.org", "pw")
    assert server.ctx.config.mx.dnsbl == () and not server.ctx.config.mx.greylist
    assert (await deliver(server, "alice@example.org"))[0] == 250


async def test_greylisting(tmp_path: Path) -> None:
    greylisted = reply_of(replies.GREYLISTED)
    assert greylisted == (451, "4.7.1 Greylisted, please try again later")
    async with make_server(tmp_path, mx={"greylist": True, "greylist_delay": 1.0}) as server:
        await server.add_user("alice@example.org", "pw")
        await server.add_user("carol@example.org", "pw")
        assert await deliver(server, "alice@example.org") == greylisted
        assert await deliver(server, "alice@example.org") == greylisted  # too soon
        await asyncio.sleep(1.1)
        assert (await deliver(server, "alice@example.org"))[0] == 250  # retried after the delay
        assert (await deliver(server, "alice@example.org"))[0] == 250  # known now: no wait
        assert await deliver(server, "carol@example.org") == greylisted  # another triplet
        assert await deliver(server, "alice@example.org", "eve@other.test") == greylisted
        assert len(await messages_in(server.ctx.store, "alice@example.org")) == 2
        # An authenticated sender is never greylisted, on port 25 or submission.
        for listener in ("smtp", "submission"):
            wire = await open_mx(server, listener)
            await wire.login("carol@example.org", "pw")
            await wire.expect("MAIL FROM:<carol@example.org>", 250)
            await wire.expect("RCPT TO:<alice@example.org>", 250)
            await wire.close()


async def test_greylisted_triplet_expires(tmp_path: Path) -> None:
    mx = {"greylist": True, "greylist_delay": 0.5, "greylist_expire": 1.0}
    async with make_server(tmp_path, mx=mx) as server:
        await server.add_user("alice@example.org", "pw")
        assert (await deliver(server, "alice@example.org"))[0] == 451
        await asyncio.sleep(0.6)
        assert (await deliver(server, "alice@example.org"))[0] == 250
        await asyncio.sleep(1.1)  # not seen for longer than greylist_expire
        assert (await deliver(server, "alice@example.org"))[0] == 451
