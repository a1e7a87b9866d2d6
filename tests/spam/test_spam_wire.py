"""Spam scoring over the wire: mail from outside over SMTP, filing seen over IMAP,
learning from IMAP MOVE into and out of Spam, thresholds and sender lists."""

from __future__ import annotations

import asyncio
import email
import imaplib
from pathlib import Path

import aiosmtplib
import pytest

from harness import BACKENDS, TestServer, make_server
from postfach.store.records import AccountId

ALICE = "alice@example.org"
PASSWORD = "pw-alice"
DATED = b"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n"


def message(subject: str, body: str, *, headers: bytes = DATED, mid: str = "1") -> bytes:
    return (
        b"From: Bob <bob@sender.test>\r\nTo: " + ALICE.encode() + b"\r\n"
        b"Subject: " + subject.encode() + b"\r\n" + headers
        + b"Message-ID: <" + mid.encode() + b"@sender.test>\r\n\r\n" + body.encode() + b"\r\n"
    )  # fmt: skip


PHISH = (
    b"From: Bank <service@bank.test>\r\nTo: alice@example.org\r\nSubject: your account\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n'
    + b"".join(b'<a href="http://shop%d.test/">deal %d</a> ' % (i, i) for i in range(5))
    + b'<a href="http://evil.test/login">https://www.bank.test/login</a>\r\n--b\r\n'
    b"Content-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="statement.scr"\r\n\r\nMZ\r\n--b--\r\n'
)  # MISSING_DATE 1 + MISSING_MID 1 + HTML_ONLY_MANY_LINKS 2 + LINK 2.5 + EXECUTABLE 4 = 10.5


async def send(server: TestServer, raw: bytes, sender: str = "bob@sender.test") -> None:
    await aiosmtplib.send(
        raw,
        sender=sender,
        recipients=[ALICE],
        hostname=server.host,
        port=server.port("smtp"),
        start_tls=False,
    )


def _folder_headers(port: int, folder: str) -> list[email.message.Message]:
    client = imaplib.IMAP4("127.0.0.1", port)
    try:
        client.login(ALICE, PASSWORD)
        client.select(folder, readonly=True)
        _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[HEADER])")
        return [email.message_from_bytes(part[1]) for part in data if isinstance(part, tuple)]
    finally:
        client.logout()


async def folder(server: TestServer, name: str) -> list[email.message.Message]:
    return await asyncio.to_thread(_folder_headers, server.port("imap"), name)


def _move_last(port: int, source: str, target: str) -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    try:
        client.login(ALICE, PASSWORD)
        client.select(source)
        _, data = client.uid("SEARCH", "ALL")
        last = data[0].split()[-1].decode()
        status, _ = client.uid("MOVE", last, target)
        assert status == "OK"
    finally:
        client.logout()


async def move_last(server: TestServer, source: str, target: str) -> None:
    await asyncio.to_thread(_move_last, server.port("imap"), source, target)


def score_of(header: email.message.Message) -> float:
    return float(header["X-Spam-Score"])


@pytest.fixture
async def server(tmp_path: Path):
    async with make_server(tmp_path) as running:
        await running.add_user(ALICE, PASSWORD)
        yield running


async def test_clean_mail_gets_a_no_and_lands_in_the_inbox(server: TestServer) -> None:
    await send(server, message("lunch", "Shall we meet at noon?"))
    [inbox] = await folder(server, "INBOX")
    assert inbox["X-Spam-Score"] == "0.0"
    assert inbox["X-Spam-Status"] == "No, score=0.0 required=5.0 tests=none"
    assert await folder(server, "Spam") == []


async def test_each_rule_fires_and_spam_is_filed_in_spam(server: TestServer) -> None:
    await send(server, PHISH)
    assert await folder(server, "INBOX") == []
    [filed] = await folder(server, "Spam")
    status = " ".join(filed["X-Spam-Status"].split())
    assert status.startswith("Yes, score=10.5 required=5.0 tests=")
    for symbol in (
        "MISSING_DATE(1.0)",
        "MISSING_MID(1.0)",
        "HTML_ONLY_MANY_LINKS(2.0)",
        "EXECUTABLE_ATTACHMENT(4.0)",
        "LINK_TEXT_OTHER_HOST(2.5)",
    ):
        assert symbol in status
    assert score_of(filed) == 10.5


async def test_above_the_reject_threshold_refused_at_data(tmp_path: Path) -> None:
    async with make_server(tmp_path, spam={"reject_threshold": 10.0}) as server:
        await server.add_user(ALICE, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(server, PHISH)
        assert refused.value.code == 554
        assert refused.value.message == "5.7.1 Message rejected under suspicion of SPAM"
        assert await folder(server, "INBOX") == await folder(server, "Spam") == []


async def test_gtube_still_refused(server: TestServer) -> None:
    gtube = message("t", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(server, gtube)
    assert refused.value.code == 554


async def test_encoded_word_tricks_and_forged_status(server: TestServer) -> None:
    forged = b"X-Spam-Status: No, score=-10.0\r\nX-Spam-Score: -10.0\r\n" + message(
        "=?utf-8?B?RlJFRSBtb25leQ==?=", "hello"
    )
    await send(server, forged)
    [inbox] = await folder(server, "INBOX")
    assert inbox.get_all("X-Spam-Status") == [
        "No, score=1.0 required=5.0 tests=SUBJECT_ENCODED_ASCII(1.0)"
    ]
    assert inbox.get_all("X-Spam-Score") == ["1.0"]


async def test_submission_is_not_scored(server: TestServer) -> None:
    await aiosmtplib.send(
        message("note", "to myself").replace(b"Bob <bob@sender.test>", ALICE.encode()),
        sender=ALICE,
        recipients=[ALICE],
        hostname=server.host,
        port=server.port("submission"),
        username=ALICE,
        password=PASSWORD,
        start_tls=False,
    )
    [inbox] = await folder(server, "INBOX")
    assert inbox["X-Spam-Status"] is None


async def test_account_thresholds_and_sender_lists(server: TestServer) -> None:
    store = server.ctx.store
    alice = await store.accounts.get_account(ALICE)
    assert alice is not None
    no_date = message("hello", "plain words", headers=b"")  # MISSING_DATE: 1.0
    await store.spam.set_thresholds(alice.id, 1.0, None)
    await send(server, no_date)
    assert len(await folder(server, "Spam")) == 1
    await store.spam.set_sender(alice.id, "sender.test", "allow")
    await send(server, PHISH, sender="bob@sender.test")  # the envelope sender is allowed
    assert len(await folder(server, "INBOX")) == 1
    await store.spam.set_thresholds(alice.id, None, None)
    await store.spam.set_sender(alice.id, "sender.test", "block")
    await send(server, message("lunch", "Shall we meet at noon?", mid="2"))
    spam = await folder(server, "Spam")
    assert len(spam) == 2 and spam[-1]["Subject"] == "lunch"


def newsletter(mid: str) -> bytes:
    """Ham that looks like an advert: HTML only, many links, no Date nor Message-ID
    (1 + 1 + 2 = 4 points)."""
    links = "".join(
        f'<a href="https://news.test/{i}">python release notes {i}</a> ' for i in range(6)
    )
    return (
        b"From: Club <club@news.test>\r\nTo: " + ALICE.encode() + b"\r\n"
        b"Subject: community newsletter conference workshop\r\nX-Id: " + mid.encode() + b"\r\n"
        b"Content-Type: text/html\r\n\r\n<p>community workshop conference library "
        b"python linux release</p>" + links.encode() + b"\r\n"
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_imap_move_into_and_out_of_spam_trains_the_classifier(
    tmp_path: Path, backend: str
) -> None:
    spam_config = {"file_threshold": 3.0, "bayes_min_learnt": 1}
    async with make_server(tmp_path, backend, spam=spam_config) as server:
        await server.add_user(ALICE, PASSWORD)
        # A newsletter the rules file in Spam; the user takes it out: learnt as ham.
        await send(server, newsletter("1"))
        [first_news] = await folder(server, "Spam")
        assert score_of(first_news) == 4.0
        await move_last(server, "Spam", "INBOX")

        # Pills the rules let through; the user moves them into Spam: learnt as spam.
        pitch = "cheap pills discount pharmacy order online today best prices guaranteed"
        await send(server, message("cheap pills", pitch, mid="a"))
        first_pills = (await folder(server, "INBOX"))[-1]
        assert score_of(first_pills) == 0.0
        assert "BAYES" not in first_pills["X-Spam-Status"]  # not learnt enough yet
        await move_last(server, "INBOX", "Spam")

        # The next pills score higher and are filed in Spam ...
        await send(server, message("cheap pills", pitch, mid="b"))
        spam = await folder(server, "Spam")
        assert len(spam) == 2
        assert "BAYES_9" in spam[-1]["X-Spam-Status"]
        assert score_of(spam[-1]) > score_of(first_pills)
        # ... and the next newsletter scores lower and stays in the INBOX.
        await send(server, newsletter("2"))
        second_news = (await folder(server, "INBOX"))[-1]
        assert second_news["X-Id"] == "2"
        assert "BAYES_00" in second_news["X-Spam-Status"]
        assert score_of(second_news) < score_of(first_news)

        account = await server.ctx.store.accounts.get_account(ALICE)
        assert account is not None
        counts = await server.ctx.store.spam.token_counts([AccountId(account.id)], ["pills"])
        assert (counts.learnt_spam, counts.learnt_ham) == (1, 1)
        assert counts.tokens["pills"] == (1, 0)


async def test_moving_to_trash_or_between_folders_teaches_nothing(server: TestServer) -> None:
    await send(server, PHISH)
    await move_last(server, "Spam", "Trash")
    await send(server, message("lunch", "noon?"))
    await move_last(server, "INBOX", "Drafts")
    account = await server.ctx.store.accounts.get_account(ALICE)
    assert account is not None
    counts = await server.ctx.store.spam.token_counts([AccountId(account.id)], ["lunch"])
    assert (counts.learnt_spam, counts.learnt_ham) == (0, 0)


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """The last line of one (possibly multi-line) reply."""
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if line[3:4] != b"-":
            return line


async def test_talking_before_the_greeting_scores(tmp_path: Path) -> None:
    async with make_server(tmp_path, spam={"greet_pause": 0.3}) as server:
        await server.add_user(ALICE, PASSWORD)
        # A polite client waits for the whole greeting: no points.
        await send(server, message("lunch", "noon?"))
        reader, writer = await asyncio.open_connection(server.host, server.port("smtp"))
        writer.write(b"EHLO rude.test\r\n")  # before the greeting's last line
        assert (await _reply(reader)).startswith(b"220 ")
        for line, code in (
            (b"", b"250"),  # the EHLO's answer
            (b"MAIL FROM:<bob@sender.test>\r\n", b"250"),
            (b"RCPT TO:<" + ALICE.encode() + b">\r\n", b"250"),
            (b"DATA\r\n", b"354"),
            (message("lunch", "noon?", mid="2") + b".\r\n", b"250"),
        ):
            writer.write(line)
            assert (await _reply(reader)).startswith(code)
        writer.close()
        polite, rude = await folder(server, "INBOX")
        assert "EARLY_TALKER" not in polite["X-Spam-Status"]
        assert "EARLY_TALKER(3.0)" in rude["X-Spam-Status"]
