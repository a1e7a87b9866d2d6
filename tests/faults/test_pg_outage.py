"""PostgreSQL stopped under SMTP and IMAP load (issue 14, point 7).

A private PostgreSQL (private_pg.py), never the machine's own, serves an
in-process postfach. While SMTP clients deliver and IMAP clients log in and
ask for STATUS, `pg_ctl stop -m fast` takes the database away for a few
seconds and `pg_ctl start` brings it back. Every SMTP step must get a reply
(451 4.3.0 while the store is down), every IMAP command a tagged response
(NO [UNAVAILABLE]) with the session alive, every POP3 line +OK or -ERR
[SYS/TEMP]; AUTH gets 454 4.7.0 and HTTP 503. Afterwards service is back
without a restart, every message that got 250 is in the mailbox exactly once,
and IDLE hears another node's deliveries again (LISTEN is re-established).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import imaplib
import poplib
import re
import smtplib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from faults.private_pg import PrivatePostgres, private_postgres, unavailable_reason
from faults.wireclients import (
    Outcomes,
    RawImap,
    SmtpAttempt,
    message_for,
    run_loops,
    smtp_send,
    unique_tag,
)
from harness import DOMAIN, TestServer, server_config_dict
from postfach.app import App
from postfach.config import config_from_dict
from postfach.store import Store

USER = "alice@example.org"
PASSWORD = "correct horse battery"
OUTAGE = 3.0  # seconds the database is away
MAX_ROUNDS = 400  # per load thread: bounded whatever happens


pytestmark = pytest.mark.skipif(bool(unavailable_reason()), reason=unavailable_reason() or "-")


@pytest.fixture
async def pg_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, PrivatePostgres]]:
    with private_postgres() as pg:
        config = config_from_dict(server_config_dict(tmp_path, pg.url), "test")
        app = App(config)
        await app.start()
        try:
            server = TestServer(app)
            await app.ctx.store.accounts.add_domain(DOMAIN)
            await server.add_user(USER, PASSWORD)
            yield server, pg
        finally:
            await app.stop()


def _smtp_loop(port: int, outcomes: Outcomes) -> Callable[[threading.Event], None]:
    def loop(stop: threading.Event) -> None:
        for _ in range(MAX_ROUNDS):
            if stop.is_set():
                return
            outcomes.add_smtp(smtp_send(port, unique_tag("load")))
            time.sleep(0.02)

    return loop


def _imap_loop(
    port: int, outcomes: Outcomes, logged_in: threading.Semaphore
) -> Callable[[threading.Event], None]:
    """One long session (logged in before the outage: `logged_in` is released
    then) and, beside it, fresh logins."""

    def loop(stop: threading.Event) -> None:
        steady = RawImap(port)
        outcomes.add_imap("LOGIN", *steady.command(f'LOGIN {USER} "{PASSWORD}"'))
        logged_in.release()
        for _ in range(MAX_ROUNDS):
            if stop.is_set() or not steady.alive:
                break
            outcomes.add_imap("STATUS", *steady.command("STATUS INBOX (MESSAGES)"))
            outcomes.add_imap("NOOP", *steady.command("NOOP"))
            fresh = RawImap(port)
            status, line = fresh.command(f'LOGIN {USER} "{PASSWORD}"')
            outcomes.add_imap("LOGIN", status, line)
            if status == "OK":
                outcomes.add_imap("SELECT", *fresh.command("SELECT INBOX"))
            fresh.close()
            time.sleep(0.02)
        steady.close()

    return loop


def _pop3_loop(port: int, outcomes: Outcomes) -> Callable[[threading.Event], None]:
    """Log in, STAT, QUIT, again and again: every line gets +OK or -ERR [SYS/TEMP]."""

    def loop(stop: threading.Event) -> None:
        for _ in range(MAX_ROUNDS):
            if stop.is_set():
                return
            try:
                pop = poplib.POP3("127.0.0.1", port, timeout=20)
                outcomes.add_pop3(pop.getwelcome())
                for command in (f"USER {USER}", f"PASS {PASSWORD}", "STAT", "QUIT"):
                    pop._putcmd(command)
                    answer = pop._getline()[0]
                    outcomes.add_pop3(answer)
                    if not answer.startswith(b"+OK") and command != "QUIT":
                        pop._putcmd("QUIT")
                        outcomes.add_pop3(pop._getline()[0])
                        break
                pop.close()
            except (OSError, poplib.error_proto) as exc:
                outcomes.add_pop3(f"no answer: {exc}".encode())
            time.sleep(0.05)

    return loop


def _auth_codes(port: int) -> list[int]:
    """AUTH PLAIN, then NOOP: the two reply codes."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("client.example.net")
        token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        codes = [client.docmd("AUTH", f"PLAIN {token}")[0]]
        codes.append(client.noop()[0])
        return codes


def _http_get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path, headers={"Authorization": "Bearer some-token"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


async def _join(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not any(t.is_alive() for t in threads), "a load client hung"


async def _back(server: TestServer) -> bool:
    """A new delivery and a new IMAP login both succeed (polled, bounded)."""
    smtp, imap = server.port("smtp"), server.port("imap")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        attempt = await asyncio.to_thread(smtp_send, smtp, unique_tag("after"))
        client = await asyncio.to_thread(RawImap, imap)
        status, _ = await asyncio.to_thread(client.command, f'LOGIN {USER} "{PASSWORD}"')
        await asyncio.to_thread(client.close)
        if attempt.accepted and status == "OK":
            return True
        await asyncio.sleep(0.3)
    return False


def _stored_subjects(port: int) -> Counter[str]:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        client.login(USER, PASSWORD)
        client.select("INBOX", readonly=True)
        _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects: Counter[str] = Counter()
        for item in data:
            if isinstance(item, tuple):
                found = re.search(rb"Subject: (\S+)", item[1])
                if found:
                    subjects[found.group(1).decode()] += 1
        return subjects
    finally:
        client.logout()


def _unanswered(attempts: list[SmtpAttempt]) -> list[str]:
    return [f"{a.tag}: {a.codes} then {a.unanswered}" for a in attempts if a.unanswered]


async def test_every_client_is_answered_while_postgres_is_away(
    pg_server: tuple[TestServer, PrivatePostgres],
) -> None:
    server, pg = pg_server
    outcomes = Outcomes()
    stop = threading.Event()
    smtp, imap = server.port("smtp"), server.port("imap")
    loops = [_smtp_loop(smtp, outcomes) for _ in range(3)]
    logged_in = threading.Semaphore(0)
    loops += [_imap_loop(imap, outcomes, logged_in) for _ in range(2)]
    loops += [_pop3_loop(server.port("pop3"), outcomes)]
    threads = run_loops(loops, stop)
    try:
        # The long sessions log in before the outage, however busy the machine.
        for _ in range(2):
            assert await asyncio.to_thread(logged_in.acquire, timeout=30)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(pg.stop, "fast")
        await asyncio.sleep(OUTAGE / 2)
        # HTTP too: the admin API answers 503, not a 500 or the driver's words.
        status, body = await asyncio.to_thread(_http_get, server.port("http"), "/api/v1/domains")
        assert status == 503 and b"127.0.0.1" not in body, (status, body)
        # AUTH on submission: RFC 4954's temporary failure, and the session goes on.
        codes = await asyncio.to_thread(_auth_codes, server.port("submission"))
        assert codes == [454, 250], codes
        await asyncio.sleep(OUTAGE / 2)
        await asyncio.to_thread(pg.start)
        assert await _back(server), "service did not come back by itself within 30 s"
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await _join(threads, timeout=60)

    # Every SMTP step got a reply; while the store was away that reply was a 4xx.
    assert _unanswered(outcomes.smtp) == []
    refused = [a for a in outcomes.smtp if not a.accepted]
    codes = Counter(code for a in refused for code in a.codes if code >= 400)
    assert codes, "no SMTP attempt met the outage: the test proved nothing"
    assert set(codes) <= {421, 451}, codes
    # Every IMAP command got its tagged response; the long sessions lived on.
    statuses = Counter(status for _, status, _ in outcomes.imap)
    assert statuses["EOF"] == 0 and statuses["BYE"] == 0, statuses
    failed = [line for _, status, line in outcomes.imap if status == "NO"]
    assert failed, "no IMAP command met the outage"
    assert [line for line in failed if b"[UNAVAILABLE]" not in line] == []
    assert any(cmd == "LOGIN" and status == "NO" for cmd, status, _ in outcomes.imap)
    # POP3: every line answered, +OK or -ERR [SYS/TEMP]; or [IN-USE] when a
    # session's QUIT could not release its maildrop lease while the database
    # was away (the lease then runs out by itself).
    answers = (b"+OK", b"-ERR [SYS/TEMP]", b"-ERR [IN-USE]")
    odd = [a for a in outcomes.pop3 if not a.startswith(answers)]
    assert odd == []
    assert any(a.startswith(b"-ERR [SYS/TEMP]") for a in outcomes.pop3)
    # Nothing acknowledged was lost or stored twice.
    stored = await asyncio.to_thread(_stored_subjects, imap)
    accepted = [a.tag for a in outcomes.smtp if a.accepted]
    assert accepted
    assert {tag: stored[tag] for tag in accepted} == dict.fromkeys(accepted, 1)
    assert all(count == 1 for count in stored.values())
    # Another node's delivery still reaches an IDLE session here: this node
    # listens for change notifications again by itself.
    assert await _idle_hears_other_node(server, pg)


async def _idle_hears_other_node(server: TestServer, pg: PrivatePostgres) -> bool:
    client = await asyncio.to_thread(RawImap, server.port("imap"))
    await asyncio.to_thread(client.command, f'LOGIN {USER} "{PASSWORD}"')
    await asyncio.to_thread(client.command, "SELECT INBOX")
    client.sock.sendall(b"i1 IDLE\r\n")
    assert (await asyncio.to_thread(client.file.readline)).startswith(b"+")
    client.sock.settimeout(1.0)
    other = await Store.connect(pg.url, migrate=False)
    try:
        account = await other.accounts.get_account(USER)
        assert account is not None
        inbox = await other.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        heard = b""
        for _ in range(20):  # a notification sent before it listens again is lost
            await other.mail.append(inbox.id, message_for(unique_tag("node-b")))
            with contextlib.suppress(TimeoutError):
                heard += await asyncio.to_thread(client.sock.recv, 4096)
            if b" EXISTS\r\n" in heard:
                return True
        return False
    finally:
        await other.close()
        client.sock.close()
