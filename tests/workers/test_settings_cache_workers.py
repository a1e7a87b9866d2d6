"""`serve --workers 2`: each worker caches the accounts' delivery settings
(store/settings_cache.py), and a change made in one worker (the admin API, which
worker 0 serves) or by another process (the CLI) reaches the next message in
both: the relay or NOTIFY at once, the settings generation within 0.5 s."""

from __future__ import annotations

import asyncio
import email
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import BACKENDS, storage_url
from postfach.store import Store
from support.cli import postfach_ok
from support.dnszone import serve_zone

from .test_workers import USER, Cluster, _prepare, _start, _stop

TOKEN = "pfat_" + "w" * 40
BOUND = 5.0  # seconds for a change to reach a worker: generous on a loaded machine


async def _add_token(url: str) -> None:
    store = await Store.connect(url)
    try:
        await store.web.add_admin_token("cache-tests", TOKEN)
    finally:
        await store.close()


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    url = asyncio.run(storage_url(request.param, tmp_path))
    asyncio.run(_prepare(url))
    asyncio.run(_add_token(url))
    with serve_zone() as zone:  # SPF and DMARC of example.net: none, at once
        dns = f'[dns]\nnameservers = ["{zone.address}"]\ntimeout = 1.0\n'
        running = _start(tmp_path, url, extra=dns)
        try:
            yield running
        finally:
            _stop(running)


def _folder_of(cluster: Cluster, subject: str) -> str:
    client = cluster.imap_login()
    try:
        for name in ("INBOX", "Spam"):
            client.select(name, readonly=True)
            _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            for part in data:
                if isinstance(part, tuple) and email.message_from_bytes(part[1])["Subject"] == (
                    subject
                ):
                    return name
    finally:
        client.logout()
    raise AssertionError(f"{subject!r} is in neither folder")


def _send(client: smtplib.SMTP, subject: str) -> None:
    body = f"From: bob@example.net\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\nhello\r\n"
    client.sendmail("bob@example.net", [USER], body)


def _until_in(cluster: Cluster, clients: list[smtplib.SMTP], want: str, label: str) -> None:
    """Each worker's next messages, until one lands in `want`; within BOUND."""
    for index, client in enumerate(clients):
        start = time.monotonic()
        for n in range(1000):
            subject = f"{label} w{index} #{n}"
            _send(client, subject)
            if _folder_of(cluster, subject) == want:
                break
            assert time.monotonic() - start < BOUND, f"worker {index}: still not in {want}"
            time.sleep(0.05)


def test_a_change_in_one_worker_or_the_cli_reaches_both(cluster: Cluster, tmp_path: Path) -> None:
    def connect() -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", cluster.ports["smtp"], timeout=10)

    clients = cluster.one_in_each(connect, lambda c: c.sock)
    try:
        for index, client in enumerate(clients):  # both workers cache the settings
            _send(client, f"warm {index}")
            assert _folder_of(cluster, f"warm {index}") == "INBOX"
        web = f"http://127.0.0.1:{cluster.ports['http']}/api/v1/accounts/{USER}"
        headers = {"authorization": f"Bearer {TOKEN}"}
        put = httpx.put(f"{web}/spam/senders/example.net", json={"kind": "block"}, headers=headers)
        assert put.is_success, put.text
        _until_in(cluster, clients, "Spam", "after web")
        postfach_ok(tmp_path, "user", "sender", USER, "remove", "example.net", "--config",
                    str(tmp_path / "postfach.toml"))  # fmt: skip
        _until_in(cluster, clients, "INBOX", "after cli")
    finally:
        for client in clients:
            client.quit()
