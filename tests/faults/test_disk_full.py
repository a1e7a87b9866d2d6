"""The data disk fills up under `postfach serve --workers 2` (issue 14, point 7).

The data directory (the SQLite store and the workers' runtime.db) lives on a
small tmpfs the test mounts, mostly taken by a ballast file; deliveries fill
the rest. From the first refusal on, every SMTP reply is a 4xx (452 4.3.1
once the store is full), no connection closes without one (the per-connection
count in runtime.db used to fail first and drop it), IMAP APPEND gets NO with
a response code and the session goes on, POP3 answers. Removing the ballast
brings service back without a restart, and the database passes
`PRAGMA integrity_check`.

Mounting needs root (and a kernel that lets the container mount); without it
the test is skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import os
import poplib
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faults.wireclients import RawImap, SmtpAttempt, message_for, smtp_send, unique_tag
from support.serve import prepare_user, start_serve

USER = "alice@example.org"
PASSWORD = "correct horse battery"
DISK = 24 * 1024 * 1024  # the tmpfs
ROOM = 1536 * 1024  # what the ballast leaves free for mail
MESSAGE_SIZE = 48 * 1024
MAX_DELIVERIES = 200  # bounded: the disk is full long before


@dataclass
class Serve:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    log: Path


def _mount_tmpfs(where: Path) -> str:
    """Mounts a tmpfs of DISK bytes at `where`; "" or why it cannot."""
    if os.geteuid() != 0:
        return "not root: cannot mount a tmpfs for a disk that fills"
    where.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    return "" if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    reason = _mount_tmpfs(disk)
    if reason:
        pytest.skip(reason)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def _prepare(url: str) -> None:
    await prepare_user(url, USER, PASSWORD)


def _start(tmp_path: Path, data: Path, url: str) -> Serve:
    off = "\n".join(f'{n} = ""' for n in ("submissions", "pop3s", "devices", "imaps"))
    config = tmp_path / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{data}"\n'
        f'[storage]\nurl = "{url}"\n'
        '[listeners]\nimap = "127.0.0.1:0"\npop3 = "127.0.0.1:0"\nsmtp = "127.0.0.1:0"\n'
        f'submission = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n{off}\n'
        "[auth]\nallow_plaintext = true\n"
    )
    log = tmp_path / "serve.log"
    process, ports = start_serve(config, log)
    if "smtp" not in ports:
        raise AssertionError(f"serve did not start: {log.read_text()[-2000:]}")
    return Serve(process, ports, log)


def _stop(serve: Serve) -> None:
    if serve.process.poll() is None:
        serve.process.send_signal(signal.SIGTERM)
        try:
            serve.process.wait(30)
        except subprocess.TimeoutExpired:
            serve.process.kill()
            serve.process.wait()


def _ballast(disk: Path) -> Path:
    """A file that takes all of the disk but ROOM."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    ballast = disk / "ballast"
    with ballast.open("wb") as out:
        left = max(0, free - ROOM)
        chunk = b"\0" * (1 << 20)
        while left > 0:
            left -= out.write(chunk[: min(left, len(chunk))])
    return ballast


def _fill(port: int) -> tuple[list[SmtpAttempt], list[SmtpAttempt]]:
    """Delivers until refused, then five more: (accepted ones, the rest)."""
    accepted: list[SmtpAttempt] = []
    after: list[SmtpAttempt] = []
    for _ in range(MAX_DELIVERIES):
        attempt = smtp_send(port, unique_tag("fill"), MESSAGE_SIZE)
        if after or not attempt.accepted:
            after.append(attempt)
            if len(after) > 5:
                break
        else:
            accepted.append(attempt)
    return accepted, after


def _append(client: RawImap, tag: str) -> tuple[str, bytes]:
    """APPEND with a non-synchronizing literal (LITERAL+): one round trip."""
    data = message_for(tag, MESSAGE_SIZE)
    client.count += 1
    ctag = f"a{client.count}"
    client.sock.sendall(f"{ctag} APPEND INBOX {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
    while True:
        line = client.file.readline()
        if not line:
            return "EOF", b""
        if line.startswith(ctag.encode() + b" "):
            return line.split(b" ", 2)[1].decode(), line


def _pop3_answers(port: int) -> list[bytes]:
    """Login, STAT, QUIT: the first line of every answer."""
    pop = poplib.POP3("127.0.0.1", port, timeout=20)
    answers = [pop.getwelcome()]
    for command in (f"USER {USER}", f"PASS {PASSWORD}", "STAT", "QUIT"):
        if command == "STAT" and not answers[-1].startswith(b"+OK"):
            continue  # not logged in (the maildrop lock could not be written)
        pop._putcmd(command)
        answers.append(pop._getline()[0])
    pop.close()
    return answers


def _count_subjects(db: Path, tags: list[str]) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        counts = {}
        for tag in tags:
            (n,) = conn.execute(
                "SELECT count(*) FROM messages JOIN blobs ON blobs.sha256 = messages.blob_sha256"
                " WHERE blobs.s_subject = ?",
                (tag,),
            ).fetchone()
            counts[tag] = n
        return counts
    finally:
        conn.close()


def test_a_full_disk_gets_4xx_and_no_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    db = data / "postfach.db"
    url = f"sqlite:///{db}"
    asyncio.run(_prepare(url))
    serve = _start(tmp_path, data, url)
    try:
        imap = RawImap(serve.ports["imap"])
        assert imap.command(f'LOGIN {USER} "{PASSWORD}"')[0] == "OK"
        assert imap.command("SELECT INBOX")[0] == "OK"
        ballast = _ballast(small_disk)

        accepted, after = _fill(serve.ports["smtp"])
        assert accepted, "nothing fitted on the disk: ROOM is too small"
        assert after, "the disk never filled"
        assert [a.unanswered for a in after if a.unanswered] == []
        # From the first refusal on, only 4xx; the store's "full" is 452 4.3.1.
        refusals = [a.codes[-1] if a.codes[-1] != 250 else a.codes[-2] for a in after]
        assert all(400 <= code < 500 for code in refusals), [a.codes for a in after]
        assert 452 in refusals, [a.codes for a in after]

        # IMAP: APPEND is refused with a response code; the session goes on.
        status, line = _append(imap, unique_tag("append"))
        # RFC 5530 UNAVAILABLE: the server's disk, not the user's quota (OVERQUOTA
        # would contradict GETQUOTAROOT); it passes when space is freed.
        assert status == "NO" and b" NO [UNAVAILABLE] " in line, line
        assert imap.command("NOOP")[0] == "OK"
        assert imap.command("STATUS INBOX (MESSAGES)")[0] == "OK"
        # POP3: every command answered (+OK, or -ERR [SYS/TEMP] while full).
        for answer in _pop3_answers(serve.ports["pop3"]):
            assert answer.startswith(b"+OK") or answer.startswith(b"-ERR [SYS/TEMP]"), answer

        # Space comes back: so does service, without a restart.
        ballast.unlink()
        back = smtp_send(serve.ports["smtp"], unique_tag("after"), MESSAGE_SIZE)
        assert back.accepted, back
        status, line = _append(imap, unique_tag("append"))
        assert status == "OK", line
        imap.close()
        answers = _pop3_answers(serve.ports["pop3"])
        assert all(answer.startswith(b"+OK") for answer in answers), answers
    finally:
        _stop(serve)
    log = serve.log.read_text()
    assert "Traceback" not in log, log[-3000:]

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    tags = [a.tag for a in accepted] + [back.tag]
    assert _count_subjects(db, tags) == dict.fromkeys(tags, 1)

