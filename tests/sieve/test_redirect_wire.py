"""Redirect over the wire: forwarded through the outbound queue to the sink,
:copy keeping a copy, the per-account hourly limit, loops cut, the envelope
sender of forwarded foreign mail, and the ARC seal of the forwarded copy."""

from __future__ import annotations

import email
import logging
from pathlib import Path

import dkim as dkimpy
import pytest

from postfach import dkim

from .sievewire import BOB, CAROL, SieveServer, message, sieve_server

DAN = "dan@sealed.test"


async def test_redirect_and_copy(sieve: SieveServer) -> None:
    await sieve.script('redirect "fwd@example.net";')
    await sieve.send(message("forward me"), sender="alice@example.net")
    [forwarded] = await sieve.sunk()
    assert forwarded.rcpt == "fwd@example.net"
    # Foreign sender: the forward goes out from Bob's own address (no SRS, see sieve_sending).
    assert forwarded.mail_from == BOB
    body = forwarded.data
    assert f"Delivered-To: {BOB}".encode() in body and b"Return-Path:" not in body
    assert email.message_from_bytes(body)["Subject"] == "forward me"
    assert await sieve.folder() == []  # redirect cancels the implicit keep

    await sieve.script('require "copy"; redirect :copy "fwd@example.net";')
    await sieve.send(message("copy me"), sender="alice@example.net")
    await sieve.sunk(2)
    assert [m.message["Subject"] for m in await sieve.folder()] == ["copy me"]


async def test_redirect_of_local_mail_keeps_the_sender(sieve: SieveServer) -> None:
    await sieve.script('redirect "fwd@example.net";')
    await sieve.submit(message("from carol", sender=CAROL), CAROL, [BOB])
    [forwarded] = await sieve.sunk()
    assert forwarded.mail_from == CAROL


async def test_redirect_to_a_local_account_and_loops(sieve: SieveServer) -> None:
    await sieve.script(f'redirect "{CAROL}";')
    await sieve.script(f'redirect "{BOB}";', address=CAROL)
    await sieve.send(message("round and round"), sender="alice@example.net")
    # Bob forwards to Carol, Carol back to Bob, who sees his own Delivered-To and keeps it.
    [kept] = await sieve.folder()
    assert kept.message["Subject"] == "round and round"
    assert await sieve.folder(address=CAROL) == []


async def test_redirect_rate_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with sieve_server(tmp_path, "sqlite", sieve={"redirects_per_hour": 2}) as sieve:
        await sieve.script('redirect "fwd@example.net";')
        with caplog.at_level(logging.WARNING, logger="postfach.sieve_sending"):
            for n in range(3):
                await sieve.send(message(f"n{n}"), sender="alice@example.net")
        await sieve.sunk(2)
        await sieve.drained()
        assert len(sieve.sink.received) == 2
        # The third is kept instead, and that is logged.
        assert [m.message["Subject"] for m in await sieve.folder()] == ["n2"]
        assert any("redirects this hour" in r.getMessage() for r in caplog.records)


async def test_forwarded_mail_is_arc_sealed(sieve: SieveServer) -> None:
    selector, pem, txt = dkim.generate_key()
    await sieve.store.accounts.add_domain("sealed.test", selector, pem)
    await sieve.server.add_user(DAN, "pw")
    await sieve.script('redirect "fwd@example.net";', address=DAN)
    await sieve.send(message("sealed", to=DAN), sender="alice@example.net", to=[DAN])
    [forwarded] = await sieve.sunk()
    data = forwarded.data
    headers = email.message_from_bytes(data)
    assert headers["ARC-Seal"] is not None and "i=1" in headers["ARC-Seal"]
    assert headers["ARC-Authentication-Results"].startswith("i=1; mail.example.org")

    def dns(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{selector}._domainkey.sealed.test.".encode()
        return txt.encode()

    # The next hop sees an intact chain sealed by sealed.test.
    result, _results, reason = dkimpy.arc_verify(data, dnsfunc=dns)
    assert result == dkimpy.CV_Pass, reason
