"""Issue 17, point 6: two `postfach serve` nodes on one PostgreSQL (POSTFACH_TEST_PG).

Each node is its own process tree with its own data_dir and runtime file, as
on two machines; they share only the database. IDLE on node A hears a delivery
made through node B (PostgreSQL NOTIFY); 1,000 outbound messages submitted to
both go out through both nodes' queue workers, each exactly once, to a loopback
sink; the nodes' own /metrics say how many each sent.
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import PG_URL, reset_postgres
from support.cli import postfach_ok
from support.serve import prepare_user, start_serve
from support.smtpsink import Sink

pytestmark = pytest.mark.skipif(not PG_URL, reason="POSTFACH_TEST_PG is not set")

USER = "alice@example.org"
PASSWORD = "correct horse battery"
TOKEN = "two-nodes-metrics-token"
MESSAGES = 1000
SUBMITTERS = 8
NOT_HUNG = 5.0  # seconds: a generous bound for the IDLE notice, not a speed goal


@dataclass
class Node:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_node(base: Path, name: str, extra: str) -> Node:
    folder = base / name
    folder.mkdir()
    off = "\n".join(
        f'{n} = ""'
        for n in ("submissions", "pop3", "pop3s", "imaps", "devices", "https", "managesieve")
    )
    config = folder / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{folder / "data"}"\n'
        f'[storage]\nurl = "{PG_URL}"\n'
        '[listeners]\nimap = "127.0.0.1:0"\nsmtp = "127.0.0.1:0"\n'
        f'submission = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n{off}\n'
        f'[auth]\nallow_plaintext = true\n[metrics]\ntoken = "{TOKEN}"\n{extra}'
    )
    log = folder / "serve.log"
    process, ports = start_serve(config, log, workers=1)
    return Node(process, ports, log)


@dataclass
class Nodes:
    a: Node
    b: Node
    sink: Sink


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    await reset_postgres(PG_URL)
    await prepare_user(PG_URL, USER, PASSWORD)
    sink = await Sink().start()
    extra = (
        f'[transport]\n"example.net" = "127.0.0.1:{sink.port}"\n'
        "[queue]\nretry_base = 1\nconnections_per_destination = 4\n"
    )
    a = await asyncio.to_thread(start_node, tmp_path, "a", extra)
    try:
        b = await asyncio.to_thread(start_node, tmp_path, "b", extra)
        try:
            yield Nodes(a, b, sink)
        finally:
            b.stop()
    finally:
        a.stop()
        await sink.stop()


def idle_hears_delivery(a: Node, b: Node) -> float:
    """IDLE on A, a message to B's MX; seconds from the end of DATA to `EXISTS`."""
    imap = imaplib.IMAP4("127.0.0.1", a.ports["imap"], timeout=10)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    tag = imap._new_tag()  # type: ignore[attr-defined]
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    body = f"From: bob@example.net\r\nTo: {USER}\r\nSubject: via B\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", b.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("bob@example.net", [USER], body)
        delivered = time.monotonic()
    imap.sock.settimeout(30)
    while b"EXISTS" not in (line := imap.readline()):
        assert line, "connection closed during IDLE"
    latency = time.monotonic() - delivered
    assert line.strip() == b"* 1 EXISTS"
    imap.send(b"DONE\r\n")
    imap.logout()
    return latency


async def test_idle_on_one_node_hears_a_delivery_through_the_other(nodes: Nodes) -> None:
    latency = await asyncio.to_thread(idle_hears_delivery, nodes.a, nodes.b)
    print(f"\nIDLE on node A heard the delivery through node B after {latency * 1000:.1f} ms")
    assert latency < NOT_HUNG


def submit(node: Node, first: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", node.ports["submission"], timeout=30) as smtp:
        smtp.login(USER, PASSWORD)
        for n in range(first, first + count):
            body = (
                f"From: {USER}\r\nTo: x{n}@example.net\r\nSubject: number {n}\r\n"
                f"Message-ID: <n{n}@example.org>\r\n\r\nmessage {n}\r\n"
            )
            smtp.sendmail(USER, [f"x{n}@example.net"], body)


async def sent_by(node: Node) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}") as client:
        got = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    for family in text_string_to_metric_families(got.text):
        for sample in family.samples:
            if sample.name == "postfach_deliveries_total" and sample.labels == {"kind": "sent"}:
                return sample.value
    return 0.0


@pytest.mark.timeout(600)
async def test_a_thousand_messages_leave_once_through_both_nodes(nodes: Nodes) -> None:
    share = MESSAGES // SUBMITTERS  # four connections to each node at once
    start = time.monotonic()
    await asyncio.gather(
        *(
            asyncio.to_thread(submit, (nodes.a, nodes.b)[n % 2], n * share, share)
            for n in range(SUBMITTERS)
        )
    )
    submitted = time.monotonic() - start
    print(f"\nsubmitted in {submitted:.1f} s; {len(nodes.sink.received)} sent by then")
    deadline = time.monotonic() + 300
    while len(nodes.sink.received) < MESSAGES and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - start
    counts = Counter(r.rcpt for r in nodes.sink.received)
    assert len(counts) == MESSAGES, f"{len(counts)} of {MESSAGES} arrived"
    assert max(counts.values()) == 1, [rcpt for rcpt, n in counts.items() if n > 1][:5]
    by_a, by_b = await sent_by(nodes.a), await sent_by(nodes.b)
    print(f"\n{MESSAGES} messages submitted and sent in {elapsed:.1f} s: "
          f"node A sent {by_a:.0f}, node B {by_b:.0f}")  # fmt: skip
    assert by_a + by_b == MESSAGES
    assert by_a > 0 and by_b > 0  # both queue workers took part


HOURLY = 30


@pytest.mark.timeout(300)
async def test_a_relays_hourly_limit_holds_across_nodes(nodes: Nodes, tmp_path: Path) -> None:
    """Both nodes' mailing engines take up the campaign (each looks every 30 s); the
    relay's hour allows 30 of its 80 recipients, and 30 arrive, not one more."""
    relay = await Sink().start()
    config = str(tmp_path / "a" / "postfach.toml")
    try:
        contacts = tmp_path / "contacts.csv"
        contacts.write_text("email\n" + "".join(f"c{n}@dest.example\n" for n in range(80)))
        body = tmp_path / "body.txt"
        body.write_text("Hello {{ email }}\n")
        steps = [
            ["mailing", "relay", "add", "limited", "--sender", "news@example.org",
             "--host", "127.0.0.1", "--port", str(relay.port), "--security", "none",
             "--hourly", str(HOURLY), "--concurrency", "4", "--per-connection", "5"],
            ["mailing", "list", "import", str(contacts), "--list", "all"],
            ["mailing", "campaign", "create", "spring", "--list", "all",
             "--subject", "News", "--text", str(body)],
            ["mailing", "send", "spring", "--no-wait"],
        ]  # fmt: skip
        for step in steps:
            await asyncio.to_thread(postfach_ok, tmp_path, *step, "--config", config)
        deadline = time.monotonic() + 200
        while len(relay.received) < HOURLY and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert len(relay.received) == HOURLY
        status = await asyncio.to_thread(postfach_ok, tmp_path, "mailing", "status",
                                         "--config", config)  # fmt: skip
        print(f"\n{status}")
    finally:
        nodes.a.stop()  # every send in flight ends with its node
        nodes.b.stop()
        await relay.stop()
    assert len(relay.received) == HOURLY  # the hour's room, across both nodes
    assert len({r.rcpt for r in relay.received}) == HOURLY  # nobody twice
