"""Issue 17, point 4: one session id on every log line of a session, in the text
format (the JSON format: tests/workers/test_metrics_workers.py). POP3, IMAP and
SMTP sessions each get their own; the lines of one carry the same."""

from __future__ import annotations

import asyncio
import imaplib
import io
import logging
import poplib
import re
import smtplib
from pathlib import Path

from harness import make_server
from postfach.logsetup import TEXT_FORMAT, SessionFilter


def two_failures_each(ports: dict[str, int]) -> None:
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"])
    for _ in range(2):
        try:
            imap.login("b@example.org", "wrong")
        except imaplib.IMAP4.error:
            pass
    imap.logout()
    pop = poplib.POP3("127.0.0.1", ports["pop3"])
    for _ in range(2):
        pop.user("b@example.org")
        try:
            pop.pass_("wrong")
        except poplib.error_proto:
            pass
    pop.quit()
    smtp = smtplib.SMTP("127.0.0.1", ports["submission"])
    for _ in range(2):
        try:
            smtp.login("b@example.org", "wrong")
        except smtplib.SMTPAuthenticationError:
            pass
    smtp.quit()


async def test_text_lines_carry_the_session_id(tmp_path: Path) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SessionFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        async with make_server(tmp_path) as server:
            await server.add_user("b@example.org", "right password")
            ports = {n: server.port(n) for n in ("imap", "pop3", "submission")}
            await asyncio.to_thread(two_failures_each, ports)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    failures = [line for line in out.getvalue().splitlines() if "auth failed" in line]
    by_protocol: dict[str, set[str]] = {}
    for line in failures:
        session = re.search(r": \[([0-9a-f]{12})\] ", line)
        protocol = re.search(r"proto=(\w+)", line)
        assert session and protocol, line
        by_protocol.setdefault(protocol.group(1), set()).add(session.group(1))
    assert sorted(by_protocol) == ["imap", "pop3", "smtp"], failures
    assert all(len(ids) == 1 for ids in by_protocol.values())  # one id per session
    assert len(set().union(*by_protocol.values())) == 3  # and a new one for each
    assert len(failures) >= 5  # two each; smtplib may give up after the first 535
