"""postmaster@ and abuse@ reach someone for every domain (RFC 5321 §4.5.1, RFC 2142):
an account or alias of that name, else `server.postmaster`, else the first account."""

from __future__ import annotations

from pathlib import Path

from harness import TestServer, make_server
from postfach.smtp import replies

from .smtpmailbox import messages_in
from .smtpwire import Wire, reply_of


def note(to: str) -> bytes:
    return f"From: dmarc@reports.test\r\nTo: {to}\r\nSubject: report\r\n\r\nHello.\r\n".encode()


async def send(server: TestServer, recipient: str, listener: str = "smtp") -> tuple[int, str]:
    """One message from a stranger to `recipient`; the RCPT reply if refused, else DATA's."""
    wire = await Wire.open(server.host, server.port(listener))
    try:
        await wire.start()
        await wire.expect("MAIL FROM:<reports@reports.test>", 250)
        got = await wire.cmd(f"RCPT TO:<{recipient}>")
        if got[0] != 250:
            return got
        await wire.expect("DATA", 354)
        await wire.send(note(recipient) + b".\r\n")
        return await wire.reply()
    finally:
        await wire.close()


async def test_role_addresses_reach_the_first_account(server: TestServer) -> None:
    await server.add_user("admin@example.org", "pw")  # made first: the operator
    await server.add_user("bob@example.org", "pw")
    await server.add_user("carol@example.net", "pw")
    for recipient in (
        "postmaster@example.org",
        "abuse@example.org",
        "Postmaster@example.net",  # another domain, no alias there either
        "ABUSE@EXAMPLE.NET",
        "postmaster",  # RFC 5321 §4.5.1: the bare form
    ):
        code, text = await send(server, recipient)
        assert code == 250, (recipient, text)
    inbox = await messages_in(server.ctx.store, "admin@example.org")
    assert len(inbox) == 5
    assert b"\r\nTo: postmaster@example.org\r\n" in inbox[0]
    assert b"\r\nTo: abuse@example.org\r\n" in inbox[1]
    assert await messages_in(server.ctx.store, "bob@example.org") == []
    assert await messages_in(server.ctx.store, "carol@example.net") == []


async def test_an_explicit_alias_wins(server: TestServer) -> None:
    await server.add_user("admin@example.org", "pw")
    await server.add_user("bob@example.org", "pw")
    await server.ctx.store.accounts.add_alias("postmaster@example.org", "bob@example.org")
    assert (await send(server, "postmaster@example.org"))[0] == 250
    assert len(await messages_in(server.ctx.store, "bob@example.org")) == 1
    assert await messages_in(server.ctx.store, "admin@example.org") == []
    assert (await send(server, "abuse@example.org"))[0] == 250  # no alias: the default
    assert len(await messages_in(server.ctx.store, "admin@example.org")) == 1


async def test_server_postmaster_setting(tmp_path: Path) -> None:
    async with make_server(tmp_path, server={"postmaster": "bob@example.org"}) as server:
        await server.add_user("admin@example.org", "pw")
        await server.add_user("bob@example.org", "pw")
        for recipient in ("abuse@example.org", "postmaster"):
            assert (await send(server, recipient))[0] == 250
        assert len(await messages_in(server.ctx.store, "bob@example.org")) == 2
        assert await messages_in(server.ctx.store, "admin@example.org") == []


async def test_other_names_and_an_empty_server_stay_unknown(server: TestServer) -> None:
    unknown = reply_of(replies.UNKNOWN_USER)
    assert await send(server, "postmaster@example.org") == unknown  # nobody to take it
    await server.add_user("admin@example.org", "pw")
    assert await send(server, "webmaster@example.org") == unknown
    assert await send(server, "postmaster@elsewhere.test") == reply_of(replies.RELAY_DENIED)
