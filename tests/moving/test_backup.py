"""`postfach backup` while SMTP clients send, and `postfach restore`."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aiosmtplib
import pytest
from tests.moving.support import acli, cli, fill, ok

from harness import PG_URL, make_server, reset_postgres
from postfach.moving.backup import summarize
from postfach.store import Store

USER = "load@example.org"


def config_file(directory: Path, url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "postfach.toml"
    path.write_text(f'[server]\ndata_dir = "{directory / "data"}"\n[storage]\nurl = "{url}"\n')
    return path


def live_with_user(tmp_path: Path, url: str) -> Path:
    """The config of a live store at `url` with example.org and USER, made by the CLI."""
    live = config_file(tmp_path / "live", url)
    ok(tmp_path, "domain", "add", "example.org", "--config", str(live))
    ok(tmp_path, "user", "add", USER, "--config", str(live), "--password-stdin",
       stdin="pw-long-enough\n")  # fmt: skip
    return live


async def sender(
    port: int, client: int, acked: list[tuple[str, float]], stop: asyncio.Event
) -> None:
    """Sends in a loop on one connection; notes each token when its 250 came."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await smtp.connect()
    try:
        number = 0
        while not stop.is_set():
            token = f"load-{client}-{number}"
            message = (
                f"From: c{client}@example.net\r\nTo: {USER}\r\nSubject: {token}\r\n"
                f"Message-ID: <{token}@example.net>\r\n\r\n{token}\r\n"
            )
            await smtp.sendmail(f"c{client}@example.net", [USER], message)
            acked.append((token, time.monotonic()))
            number += 1
    finally:
        await smtp.quit()


async def test_backup_under_smtp_load_restores_every_acknowledged_message(
    tmp_path: Path,
) -> None:
    acked: list[tuple[str, float]] = []
    stop = asyncio.Event()
    async with make_server(tmp_path / "live") as server:
        await server.add_user(USER, "pw")
        url = f"sqlite:///{tmp_path / 'live' / 'postfach.db'}"
        live = config_file(tmp_path / "live-cli", url)
        port = server.port("smtp")
        clients = [asyncio.create_task(sender(port, n, acked, stop)) for n in range(4)]
        while len(acked) < 100:
            await asyncio.sleep(0.05)
            for task in clients:
                if task.done():
                    task.result()  # a client that failed says why
        began = time.monotonic()
        backup = tmp_path / "store.backup"
        process = await acli(tmp_path, "backup", "--config", str(live), "--to", str(backup))
        out, err = await asyncio.wait_for(process.communicate(), 120)
        ended = time.monotonic()
        while not [t for t, at in acked if at > ended]:  # the load went on past the backup
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*clients)
        assert process.returncode == 0, err.decode()
        assert "sqlite backup API" in out.decode() and "checksum sha256:" in out.decode()

    before = {token for token, at in acked if at < began}
    assert len(before) >= 100
    fresh_url = f"sqlite:///{tmp_path / 'fresh' / 'postfach.db'}"
    fresh = config_file(tmp_path / "fresh", fresh_url)
    out = ok(tmp_path, "restore", "--config", str(fresh), str(backup))
    assert "verified:" in out and "1 account(s)" in out
    again = cli(tmp_path, "restore", "--config", str(fresh), str(backup))
    assert again.returncode == 1 and "--force" in again.stderr

    store = await Store.connect(fresh_url)
    try:
        account = await store.accounts.get_account(USER)
        assert account is not None
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        listing = await store.mail.message_listing(inbox.id)
        raws = await store.mail.read_raws(listing)
        restored = {raw.rsplit(b"\r\n", 2)[-2].decode() for raw in raws.values()}
        assert before <= restored  # every message acknowledged before the backup began
        assert str(len(listing)) + " message(s)" in out
    finally:
        await store.close()


async def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live' / 'postfach.db'}"
    live = live_with_user(tmp_path, url)
    store = await Store.connect(url)
    try:
        account = await store.accounts.get_account(USER)
        assert account is not None
        await fill(store, account.id, {"INBOX": 20})
    finally:
        await store.close()
    backup = tmp_path / "b.sqlite"
    ok(tmp_path, "backup", "--config", str(live), "--to", str(backup))
    data = backup.read_bytes()
    marker = b"Line 7 of INBOX."
    assert marker in data
    backup.write_bytes(data.replace(marker, b"Line 9 of INBOX."))  # one message changed
    fresh = config_file(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh' / 'p.db'}")
    result = cli(tmp_path, "restore", "--config", str(fresh), str(backup))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("postfach: ") and "damaged" in result.stderr
    assert not (tmp_path / "fresh" / "p.db").exists()


@pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not on PATH")
async def test_postgresql_backup_by_pg_dump_restores_the_same_store(tmp_path: Path) -> None:
    await reset_postgres(PG_URL)
    live = live_with_user(tmp_path, PG_URL)
    store = await Store.connect(PG_URL)
    try:
        account = await store.accounts.get_account(USER)
        assert account is not None
        await fill(store, account.id, {"INBOX": 30, "Sent": 5})
        before = await summarize(store)
    finally:
        await store.close()
    backup = tmp_path / "pg.dump"
    out = ok(tmp_path, "backup", "--config", str(live), "--to", str(backup))
    assert "pg_dump" in out
    await reset_postgres(PG_URL)  # the store is lost
    out = ok(tmp_path, "restore", "--config", str(live), "--force", str(backup))
    assert before.line() in out
