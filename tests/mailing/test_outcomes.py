"""Sender rules (R23), failover on a login refusal (R22) and per-recipient replies (R26).

Three relays are real aiosmtpd servers: one refuses every login, one answers
550 (and 451) for some recipients, one accepts everything.
"""

from __future__ import annotations

import email.utils

import pytest

from postfach.mailing.api import Mailing
from postfach.mailing.clock import ManualClock
from postfach.mailing.tokens import find_tokens
from postfach.store.mailing import HOUR

from .conftest import make_campaign, relay_for


async def test_rule_substitution_allowed_uses_campaign_sender(mailing: Mailing, sinks):
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha", allow_substitution=True))
    await make_campaign(mailing, 1)
    await mailing.send("spring")
    msg = a.received[0].message
    assert email.utils.parseaddr(msg["From"]) == ("Shop", "shop@shop.example")
    assert msg["Reply-To"] is None


async def test_rule_substitution_forbidden_uses_relay_address(mailing: Mailing, sinks):
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha", allow_substitution=False))
    await make_campaign(mailing, 1)
    await mailing.send("spring")
    msg = a.received[0].message
    assert email.utils.parseaddr(msg["From"])[1] == "news@alpha.example"
    assert msg["Reply-To"] == "shop@shop.example"


async def test_rule_empty_sender_is_filled_with_relays(mailing: Mailing, sinks):
    a, b = await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", allow_substitution=True, hourly_limit=1))
    await mailing.add_relay(relay_for(b, "beta", allow_substitution=False))
    await make_campaign(mailing, 2, from_name="", from_address="")
    await mailing.send("spring")
    assert email.utils.parseaddr(a.received[0].message["From"]) == (
        "Alpha News",
        "news@alpha.example",
    )
    assert email.utils.parseaddr(b.received[0].message["From"]) == (
        "Beta News",
        "news@beta.example",
    )


async def test_headers_identify_campaign_and_recipient(mailing: Mailing, sinks):
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha"))
    await make_campaign(mailing, 2)
    await mailing.send("spring")
    campaign = await mailing.campaign("spring")
    rows = {r.email: r for r in await mailing.store.recipients(campaign.id)}
    for received in a.received:
        msg = received.message
        row = rows[received.rcpt]
        assert received.mail_from == f"news+pf-{campaign.id}-{row.token}@alpha.example"
        assert find_tokens(msg["Message-ID"]) == [row.token]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"<https://mail.example.org/unsubscribe/{row.token}>" in msg["List-Unsubscribe"]
        body = msg.get_body(("plain",)).get_content()
        assert f"news for {row.email}" in body
        assert msg["Subject"].startswith("News for User ")


@pytest.mark.parametrize("pipelining", [False, True])
async def test_login_refusal_fails_over_to_next_relay(mailing: Mailing, sinks, pipelining):
    refusing = await sinks(login="news", password="right", refuse_login=True)
    ok = await sinks(login="news2", password="pw2", pipelining=pipelining)
    await mailing.add_relay(relay_for(refusing, "alpha"))
    await mailing.add_relay(relay_for(ok, "beta"))
    await make_campaign(mailing, 4)
    report = await mailing.send("spring")
    assert report.finished and report.sent == 4
    assert not refusing.received and len(ok.received) == 4
    assert refusing.logins == [("news", "right")] and ok.logins == [("news2", "pw2")]
    assert "refused the login for news: 535" in report.set_aside["alpha"]
    # The refused relay's reservations were given back.
    status = {s.relay.name: s.quota for s in await mailing.status()}
    assert status["alpha"].sent_hour == 0 and status["beta"].sent_hour == 4


async def test_every_relay_refusing_stops_with_the_reasons(mailing: Mailing, sinks):
    refusing = await sinks(login="news", password="x", refuse_login=True)
    await mailing.add_relay(relay_for(refusing, "alpha"))
    await make_campaign(mailing, 2)
    report = await mailing.send("spring")
    assert not report.finished and "refused the login" in report.stopped
    view = await mailing.show_campaign("spring")
    assert view.counts == {"queued": 2}


@pytest.mark.parametrize("pipelining", [False, True])
async def test_per_recipient_replies(mailing: Mailing, sinks, clock: ManualClock, pipelining):
    picky = await sinks(
        pipelining=pipelining,
        replies={
            "user1@dest.example": "550 5.1.1 <user1@dest.example>: Recipient address rejected",
            "user2@dest.example": "451 4.7.1 Greylisted, try again later",
        },
    )
    await mailing.add_relay(relay_for(picky, "alpha", hourly_limit=100))
    await make_campaign(mailing, 3)
    report = await mailing.send("spring")
    assert report.finished
    view = await mailing.show_campaign("spring")
    rows = {r.email: r for r in view.recipients}
    assert rows["user0@dest.example"].state == "sent"
    assert rows["user0@dest.example"].reply.startswith("250 2.0.0 Ok: queued as")
    assert rows["user0@dest.example"].relay_name == "alpha"
    assert rows["user1@dest.example"].state == "failed"
    assert rows["user1@dest.example"].reply == (
        "550 5.1.1 <user1@dest.example>: Recipient address rejected"
    )
    # 451 is retried with back-off until the attempts run out, then final.
    greylisted = rows["user2@dest.example"]
    assert greylisted.state == "failed" and greylisted.attempts == 6
    assert (
        greylisted.reply.startswith("451 4.7.1 Greylisted")
        and "gave up after 6" in greylisted.reply
    )
    assert report.deferred == 5 and len(report.waits) == 5


async def test_451_then_accepted(mailing: Mailing, sinks, clock: ManualClock):
    picky = await sinks(replies={"user0@dest.example": "451 4.3.0 try later"})
    await mailing.add_relay(relay_for(picky, "alpha"))
    await make_campaign(mailing, 1)
    await mailing.queue("spring")
    scheduler = mailing.scheduler()

    # A first pass: the recipient is deferred and due in retry_base seconds.
    campaign = await mailing.campaign("spring")
    start = clock.now()
    original_sleep = clock.sleep_until

    async def accept_then_sleep(when: float) -> None:
        picky.replies.clear()
        await original_sleep(when)

    clock.sleep_until = accept_then_sleep  # type: ignore[method-assign]
    report = await scheduler.run(campaign)
    assert report.finished and report.sent == 1 and report.deferred == 1
    assert report.waits == [(start, start + 300.0)]
    row = (await mailing.store.recipients(campaign.id))[0]
    assert row.state == "sent" and row.attempts == 2


async def test_unsubscribed_and_bounced_contacts_are_left_out(mailing: Mailing, sinks):
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=1))
    await make_campaign(mailing, 3)
    await mailing.queue("spring")
    campaign = await mailing.campaign("spring")
    rows = await mailing.store.recipients(campaign.id)
    from postfach.mailing import unsubscribe

    assert await unsubscribe(mailing.store.db, rows[1].token)
    assert not await unsubscribe(mailing.store.db, "a" * 24)
    assert not await unsubscribe(mailing.store.db, "../../etc")
    await mailing.store.mark_bounce(None, rows[2].email, True, "550 no such user", 0.0)
    report = await mailing.send("spring")
    assert report.finished and [r.rcpt for r in a.received] == ["user0@dest.example"]
    await make_campaign_again(mailing)
    await mailing.queue("autumn")
    autumn = await mailing.campaign("autumn")
    assert [r.email for r in await mailing.store.recipients(autumn.id)] == ["user0@dest.example"]
    assert HOUR  # the only sent one used the hour's single slot


async def make_campaign_again(mailing: Mailing) -> None:
    await mailing.create_campaign("autumn", "customers", "Autumn", text="Hi {{ name }}")


@pytest.mark.parametrize("pipelining", [False, True])
async def test_connection_lost_mid_batch(mailing: Mailing, sinks, clock: ManualClock, pipelining):
    a = await sinks(pipelining=pipelining, drop_once={"user2@dest.example"})
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=100))
    await make_campaign(mailing, 6)
    report = await mailing.send("spring")
    assert report.finished and report.sent == 6 and report.deferred == 1
    # Only the message under way was deferred (and retried after the back-off);
    # the ones behind it went on a new connection at once.
    assert sorted(r.rcpt for r in a.received) == [f"user{i}@dest.example" for i in range(6)]
    assert a.connections >= 2 and len(report.waits) == 1
    rows = {r.email: r for r in (await mailing.show_campaign("spring")).recipients}
    assert rows["user2@dest.example"].attempts == 2
    assert {rows[f"user{i}@dest.example"].attempts for i in (0, 1, 3, 4, 5)} == {1}
    # No reservation outlived a message that never reached the relay.
    status = {s.relay.name: s.quota for s in await mailing.status()}
    assert status["alpha"].sent_hour == 7
