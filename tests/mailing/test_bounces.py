"""Bounce handling (R25): reports as Postfix, Exim, Exchange, Gmail and Yandex write
them, read from a mailbox served over real IMAP by postfach itself, mark exactly
the right contacts.
"""

from __future__ import annotations

import asyncio
import imaplib
from pathlib import Path
from string import Template

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import make_server
from postfach.mailing.api import BounceBoxSettings, Mailing
from postfach.mailing.bounces import read_report
from postfach.mailing.clock import ManualClock
from postfach.mailing.tokens import message_id, return_path
from support.imap import imap_append
from support.smtpsink import Sink

from .conftest import make_campaign, relay_for

DATA = Path(__file__).parent / "data" / "bounces"
SENDER = "news@alpha.example"

# report file -> (recipient index, expected effect)
CASES = {
    "postfix": (0, "hard"),
    "exim": (1, "hard"),
    "exchange": (2, "hard"),
    "gmail": (3, "soft"),
    "yandex": (4, "hard"),
    "address_only": (5, "hard"),
    "autoreply": (6, None),
    "stranger": (6, None),
}


def render(name: str, rcpt: str, campaign_id: int, token: str) -> bytes:
    text = (DATA / f"{name}.eml").read_text(encoding="utf-8")
    filled = Template(text).safe_substitute(
        verp=return_path(SENDER, campaign_id, token),
        rcpt=rcpt,
        msgid=message_id("shop@shop.example", campaign_id, token),
        sender=SENDER,
    )
    return filled.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def test_read_report_per_vendor():
    token = "abcdefghijklmnopqrstuvwx"
    rcpt = "user@dest.example"
    for name, (_, effect) in CASES.items():
        report = read_report(render(name, rcpt, 7, token))
        if name == "stranger":
            assert report.is_report and report.tokens == []
            continue
        if effect is None:
            assert not report.is_report, name
            continue
        assert report.is_report, name
        assert [b.address for b in report.bounces] == [rcpt], name
        assert report.bounces[0].hard == (effect == "hard"), name
        if name != "address_only":
            assert report.tokens == [token], name
    postfix = read_report(render("postfix", rcpt, 7, token)).bounces[0]
    assert postfix.status == "5.1.1"
    assert postfix.diagnostic.startswith("550 5.1.1 <user@dest.example>: Recipient address")
    exim = read_report(render("exim", rcpt, 7, token)).bounces[0]
    assert exim.diagnostic.startswith("550 5.1.1") and exim.status == "5.1.1"
    yandex = read_report(render("yandex", rcpt, 7, token)).bounces[0]
    assert yandex.diagnostic == "550 5.7.1 Message rejected under suspicion of SPAM"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_read_report_never_raises(raw: bytes):
    report = read_report(raw)
    assert isinstance(report.bounces, list)


def imap_count(port: int, folder: str) -> int:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login("bounces@example.org", "pw")
    status, data = client.select(folder)
    client.logout()
    return int(data[0]) if status == "OK" else -1


async def test_bounce_mailbox_over_imap_marks_the_right_contacts(tmp_path: Path):
    clock = ManualClock()
    async with make_server(tmp_path) as srv:
        await srv.add_user("bounces@example.org", "pw")
        mailing = await Mailing.open(srv.ctx.store, srv.ctx.config, clock=clock)
        sink = await Sink(clock).start()
        try:
            await mailing.add_relay(relay_for(sink, "alpha"))
            await make_campaign(mailing, 8)
            report = await mailing.send("spring")
            assert report.sent == 8
        finally:
            await sink.stop()
        campaign = await mailing.campaign("spring")
        rows = await mailing.store.recipients(campaign.id)
        reports = [
            render(n, rows[i].email, campaign.id, rows[i].token) for n, (i, _) in CASES.items()
        ]
        unsubscribe = (
            f"From: {rows[7].email}\r\nTo: {return_path(SENDER, campaign.id, rows[7].token)}\r\n"
            "Subject: unsubscribe\r\n\r\n\r\n"
        ).encode()
        port = srv.port("imap")
        await asyncio.to_thread(
            imap_append, port, "bounces@example.org", "pw", *reports, unsubscribe
        )
        await mailing.add_bounce_box(
            BounceBoxSettings(
                "main", "127.0.0.1", port, "bounces@example.org", "pw", security="none"
            )
        )
        results = await mailing.check_bounces()
        result = results["main"]
        assert not isinstance(result, str), result
        assert result.read == 9 and result.skipped == 2
        assert sorted(result.hard) == sorted(rows[i].email for i in (0, 1, 2, 4, 5))
        assert result.soft == [rows[3].email]
        assert result.unsubscribed == [rows[7].email]

        list_id = await mailing.store.get_list("customers")
        assert list_id is not None
        contacts = {c.email: c for c in await mailing.store.list_contacts(list_id)}
        bounced = {email for email, c in contacts.items() if c.bounced}
        assert bounced == {rows[i].email for i in (0, 1, 2, 4, 5)}
        assert contacts[rows[3].email].soft_bounces == 1 and not contacts[rows[3].email].bounced
        assert contacts[rows[7].email].unsubscribed
        after = {r.email: r for r in await mailing.store.recipients(campaign.id)}
        assert after[rows[4].email].state == "bounced"
        assert after[rows[4].email].reply == "550 5.7.1 Message rejected under suspicion of SPAM"
        assert after[rows[3].email].state == "sent"

        assert await asyncio.to_thread(imap_count, port, "Processed") == 7
        assert await asyncio.to_thread(imap_count, port, "INBOX") == 2
        again = (await mailing.check_bounces())["main"]
        assert not isinstance(again, str) and again.read == 0

        # Later campaigns leave bounced and unsubscribed contacts out.
        await mailing.create_campaign("autumn", "customers", "Autumn", text="Hi")
        assert await mailing.queue("autumn") == 8 - 5 - 1


async def test_bounce_mailbox_wrong_password_is_reported(tmp_path: Path):
    async with make_server(tmp_path) as srv:
        await srv.add_user("bounces@example.org", "pw")
        mailing = await Mailing.open(srv.ctx.store, srv.ctx.config)
        await mailing.add_bounce_box(
            BounceBoxSettings(
                "main",
                "127.0.0.1",
                srv.port("imap"),
                "bounces@example.org",
                "nope",
                security="none",
            )  # fmt: skip
        )
        result = (await mailing.check_bounces("main"))["main"]
        assert isinstance(result, str) and "refused the login for bounces@example.org" in result
        assert "nope" not in result
        box = (await mailing.list_bounce_boxes())[0]
        assert box.last_result.startswith("error:") and "nope" not in repr(box)
