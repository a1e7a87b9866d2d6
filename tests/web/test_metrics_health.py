"""Issue 17, point 4: /metrics, /healthz and /readyz over HTTP, on both backends.

The counters are scraped before and after real sessions (IMAP logins, an SMTP
delivery, a message queued for a host that does not answer) and must move;
/metrics wants an admin token or `metrics.token`; the `metrics` listener serves
the same without a login. With two worker processes the figures are summed over
both (tests/workers/test_metrics_workers.py).
"""

from __future__ import annotations

import asyncio
import base64
import imaplib
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import BACKENDS, TestServer, make_server

MESSAGE = b"From: x@sender.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
TOKEN = "metrics-secret-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    async with make_server(
        tmp_path,
        request.param,
        metrics={"token": TOKEN},
        transport={"example.net": "127.0.0.1:9"},  # nothing answers: the message stays queued
        queue={"retry_base": 3600.0},
    ) as running:
        await running.add_user("b@example.org", "right password")
        yield running


async def scrape(server: TestServer, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port('http')}") as client:
        return await client.get("/metrics", headers=headers)


async def test_metrics_need_an_admin(server: TestServer) -> None:
    assert (await scrape(server)).status_code == 401
    assert (await scrape(server, authorization="Bearer wrong")).status_code == 401
    assert (await scrape(server, authorization=f"Bearer {TOKEN}")).status_code == 200
    admin = "an-admin-token-made-by-the-cli"
    await server.ctx.store.web.add_admin_token("ops", admin)
    basic = base64.b64encode(f"prometheus:{admin}".encode()).decode()
    got = await scrape(server, authorization=f"Basic {basic}")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")


def imap_logins(port: int) -> None:
    imap = imaplib.IMAP4("127.0.0.1", port)
    with pytest.raises(imaplib.IMAP4.error):
        imap.login("b@example.org", "wrong")
    imap.login("b@example.org", "right password")
    imap.logout()


def smtp_traffic(mx: int, submission: int) -> None:
    with smtplib.SMTP("127.0.0.1", mx) as smtp:
        smtp.sendmail("x@sender.test", ["b@example.org"], MESSAGE)
    with smtplib.SMTP("127.0.0.1", submission) as smtp:
        smtp.login("b@example.org", "right password")
        own = MESSAGE.replace(b"From: x@sender.test", b"From: b@example.org")
        smtp.sendmail("b@example.org", ["x@example.net"], own)


async def test_counters_and_gauges_move(server: TestServer) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    before = samples((await scrape(server, **auth)).text)
    await asyncio.to_thread(imap_logins, server.port("imap"))
    await asyncio.to_thread(smtp_traffic, server.port("smtp"), server.port("submission"))
    after = samples((await scrape(server, **auth)).text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("postfach_connections_total", listener="imap") >= 1
    assert moved("postfach_connections_total", listener="smtp") >= 1
    assert moved("postfach_commands_total", protocol="imap") >= 3  # LOGIN, LOGIN, LOGOUT
    assert moved("postfach_commands_total", protocol="smtp") >= 5
    assert moved("postfach_login_failures_total", protocol="imap") == 1
    assert moved("postfach_deliveries_total", kind="local") == 1
    assert moved("postfach_deliveries_total", kind="queued") == 1
    assert moved("postfach_store_seconds_count", kind="write") >= 1
    assert value(after, "postfach_queue_depth") == 1
    assert value(after, "postfach_queue_oldest_age_seconds") >= 0
    assert value(before, "postfach_queue_depth") == 0


async def test_healthz_and_readyz(server: TestServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port('http')}") as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")


async def test_readyz_fails_while_a_listener_is_down(tmp_path: Path) -> None:
    async with make_server(tmp_path) as server:
        await server.app.listeners["pop3"].stop()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port('http')}") as c:
            ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert "pop3" in ready.text


async def test_metrics_listener_needs_no_login(tmp_path: Path) -> None:
    listeners = {"metrics": "127.0.0.1:0"}
    async with make_server(tmp_path, listeners=listeners) as server:
        base = f"http://127.0.0.1:{server.port('metrics')}"
        async with httpx.AsyncClient(base_url=base) as client:
            got = await client.get("/metrics")
            assert got.status_code == 200
            assert "postfach_queue_depth" in got.text
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/settings")).status_code == 404  # nothing else there


async def test_relay_quota_left(server: TestServer) -> None:
    from postfach.mailing.api import Mailing
    from postfach.mailing.relays import RelaySettings

    mailing = await Mailing.open(server.ctx.store, server.ctx.config, ctx=server.ctx)
    await mailing.add_relay(
        RelaySettings("news", "internal", "news@example.org", hourly_limit=40, daily_limit=500)
    )
    got = samples((await scrape(server, authorization=f"Bearer {TOKEN}")).text)
    assert value(got, "postfach_relay_quota_remaining", relay="news", window="hour") == 40
    assert value(got, "postfach_relay_quota_remaining", relay="news", window="day") == 500


async def test_counts_reach_their_counters_within_a_second() -> None:
    """Commands are tallied and added once a second (an increment of a shared
    counter costs a lock and a file write): none is lost, none waits longer."""
    from prometheus_client import REGISTRY

    from postfach import metrics

    def counted() -> float:
        return REGISTRY.get_sample_value("postfach_commands_total", {"protocol": "pop3"}) or 0.0

    metrics.flush_tally()
    before = counted()
    for _ in range(5):
        metrics.command("pop3")
    await asyncio.sleep(metrics.TALLY_SECONDS + 0.3)
    assert counted() == before + 5
    for _ in range(3):
        metrics.command("pop3")
    metrics.flush_tally()  # as an exposition does
    assert counted() == before + 8
