"""rspamd as the scorer, against a real rspamd started here (rspamd_server.py).

GTUBE scores as spam and a plain note does not, /learnspam and /learnham take
their lessons, and an rspamd that is down or hangs gives the "unscanned"
verdict, logged once, never an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import imaplib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosmtplib
import pytest

from harness import TestServer, make_server
from postfach.config import SpamConfig
from postfach.spam.rspamd import RspamdScorer, controller_url
from postfach.spam.verdict import ScanFacts, SpamVerdict
from spam.rspamd_server import Rspamd, free_port, running_rspamd

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
FACTS = ScanFacts(
    ip="192.0.2.25",
    helo="mx.example.net",
    sender="bob@example.net",
    recipients=("alice@example.org", "carol@example.org"),
    account_ids=(1, 2),
    authenticated=False,
)


def message(body: str, subject: str = "Lunch on Friday") -> bytes:
    tag = uuid.uuid4().hex  # a new message each run: rspamd remembers what it learnt
    return (
        "From: Bob <bob@example.net>\r\nTo: Alice <alice@example.org>\r\n"
        f"Subject: {subject}\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{tag}@example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\nref {tag}\r\n"
    ).encode()


HAM = (
    "Hi Alice, shall we meet for lunch on Friday at noon near the station? "
    "Please bring the quarterly report, we need to go through the budget plan "
    "and the numbers for the new office before the meeting with the board."
)


@pytest.fixture(scope="module")
def rspamd() -> Iterator[Rspamd]:
    with running_rspamd() as server:
        yield server


@pytest.fixture
async def scorer(rspamd: Rspamd) -> AsyncIterator[RspamdScorer]:
    scorer = RspamdScorer(rspamd.scanner, controller=rspamd.controller, password=rspamd.password)
    yield scorer
    await scorer.aclose()


async def test_gtube_scores_as_spam(scorer: RspamdScorer) -> None:
    verdict = await scorer.check(message(GTUBE, "Free money"), FACTS)
    assert verdict.scanned
    assert verdict.score >= 15.0  # rspamd's reject score
    assert any(symbol.startswith("GTUBE(") for symbol in verdict.symbols)


async def test_plain_note_is_not_spam(scorer: RspamdScorer) -> None:
    verdict = await scorer.check(message(HAM), FACTS)
    assert verdict.scanned
    assert verdict.score < 6.0  # below rspamd's "add header" score
    assert not any(symbol.startswith("GTUBE(") for symbol in verdict.symbols)
    assert verdict.symbols  # the rules that looked at it, as NAME(points)
    assert all(symbol.endswith(")") and "(" in symbol for symbol in verdict.symbols)


async def test_envelope_reaches_rspamd(scorer: RspamdScorer) -> None:
    """IP, Rcpt and User arrive: rspamd checks the client's name, matches To:
    against the envelope, and spares a logged-in sender the checks for strangers."""
    stranger = await scorer.check(message(HAM), FACTS)
    assert {"RDNS_NONE(1)", "TO_MATCH_ENVRCPT_ALL(0)", "AUTH_NA(1)"} <= set(stranger.symbols)
    bare = ScanFacts("", "", "", (), (), authenticated=False)
    unknown = await scorer.check(message(HAM), bare)
    assert not {"RDNS_NONE(1)", "TO_MATCH_ENVRCPT_ALL(0)"} & set(unknown.symbols)
    user = await scorer.check(message(HAM), dataclasses.replace(FACTS, authenticated=True))
    assert not {"RDNS_NONE(1)", "AUTH_NA(1)"} & set(user.symbols)
    assert user.score < stranger.score


async def test_learnspam_and_learnham_accepted(rspamd: Rspamd, scorer: RspamdScorer) -> None:
    if not rspamd.redis:
        pytest.skip("rspamd's Bayes needs Redis: no redis-server (Debian package redis-server)")
    spam = message("Cheap watches and pills, click now to claim your prize " * 5, "WIN")
    assert await scorer.learned(spam, spam=True)
    assert await scorer.learned(message(HAM), spam=False)
    assert await scorer.learned(spam, spam=True)  # already learnt (208): still taken
    await scorer.learn(7, message(HAM), spam=False)  # the Scorer contract: no answer


async def test_controller_password(rspamd: Rspamd) -> None:
    """The Password header is sent; without it (or with a wrong one) rspamd refuses,
    which is reported as not learnt, never raised."""
    for password in ("", "wrong"):
        scorer = RspamdScorer(rspamd.scanner, controller=rspamd.controller, password=password)
        try:
            assert not await scorer.learned(message(HAM), spam=False)
        finally:
            await scorer.aclose()


async def test_rspamd_stopped_gives_unscanned(caplog: pytest.LogCaptureFixture) -> None:
    scorer = RspamdScorer(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING, logger="postfach.spam.rspamd"):
            first = await scorer.check(message(GTUBE), FACTS)
            second = await scorer.check(message(HAM), FACTS)
            assert not await scorer.learned(message(HAM), spam=False)
    finally:
        await scorer.aclose()
    assert first == second == SpamVerdict(0.0, (), scanned=False)
    checks = [r for r in caplog.records if "unscanned" in r.getMessage()]
    assert len(checks) == 1  # once a minute, not once per message


async def test_rspamd_hanging_gives_unscanned() -> None:
    """A scanner that takes the connection and never answers: the timeout ends it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    scorer = RspamdScorer(f"http://127.0.0.1:{port}", timeout=0.5)
    try:
        verdict = await asyncio.wait_for(scorer.check(message(HAM), FACTS), 10)
    finally:
        await scorer.aclose()
        silent.close()
    assert verdict == SpamVerdict(0.0, (), scanned=False)


def test_scorer_from_config() -> None:
    assert RspamdScorer.from_config(SpamConfig()) is None  # not set: the built-in scorer
    scorer = RspamdScorer.from_config(SpamConfig(rspamd="http://127.0.0.1:11333/"))
    assert scorer is not None
    assert (scorer.url, scorer.controller) == ("http://127.0.0.1:11333", "http://127.0.0.1:11334")


def test_controller_beside_scanner() -> None:
    assert controller_url("http://127.0.0.1:11333") == "http://127.0.0.1:11334"
    assert controller_url("http://[::1]:11333/") == "http://[::1]:11334"


async def _delivered_headers(server: TestServer, raw: bytes) -> email.message.Message:
    """Sends `raw` to alice over the MX and reads its header back over IMAP."""
    await aiosmtplib.send(
        raw,
        sender="bob@example.net",
        recipients=["alice@example.org"],
        hostname="127.0.0.1",
        port=server.port("smtp"),
        start_tls=False,
    )

    def fetch() -> bytes:
        client = imaplib.IMAP4("127.0.0.1", server.port("imap"))
        try:
            client.login("alice@example.org", "pw-alice")
            client.select("INBOX", readonly=True)
            _, data = client.fetch("1", "(BODY.PEEK[HEADER])")
            part = data[0]
            assert isinstance(part, tuple)
            return part[1]
        finally:
            client.logout()

    return email.message_from_bytes(await asyncio.to_thread(fetch))


async def test_the_mx_asks_rspamd_when_configured(rspamd: Rspamd, tmp_path: Path) -> None:
    spam = {"rspamd": rspamd.scanner, "rspamd_controller": rspamd.controller,
            "rspamd_password": rspamd.password}  # fmt: skip
    async with make_server(tmp_path, spam=spam) as server:
        await server.add_user("alice@example.org", "pw-alice")
        headers = await _delivered_headers(server, message(HAM))
    status = headers["X-Spam-Status"]
    assert status.startswith("No, score=")
    assert "ARC_NA(" in status  # a symbol of rspamd's own: rspamd scored it, not the built-in rules


async def test_the_mx_takes_mail_unscanned_while_rspamd_is_down(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with make_server(tmp_path, spam={"rspamd": closed, "rspamd_timeout": 2.0}) as server:
        await server.add_user("alice@example.org", "pw-alice")
        headers = await _delivered_headers(server, message(HAM))
    assert headers["X-Spam-Status"] == "unscanned"
