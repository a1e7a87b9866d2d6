"""The scheduler against real SMTP sinks on loopback, with a virtual clock (R24, R26).

Every relay here is an aiosmtpd server; the clock is a ManualClock, so an
hour's wait takes no time and is recorded exactly.
"""

from __future__ import annotations

import asyncio

from postfach.mailing.api import Mailing
from postfach.mailing.clock import ManualClock
from postfach.store.mailing import DAY, HOUR

from .conftest import make_campaign, relay_for


def max_in_window(times: list[float], window: float) -> int:
    """The most sends that fell in any rolling window of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_first_relay_until_exhausted_then_next(mailing: Mailing, sinks, clock: ManualClock):
    a, b, c = await sinks(), await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=3, daily_limit=100))
    await mailing.add_relay(relay_for(b, "beta", hourly_limit=4, daily_limit=100))
    await mailing.add_relay(relay_for(c, "gamma", hourly_limit=100, daily_limit=100))
    await make_campaign(mailing, 10)
    report = await mailing.send("spring")
    assert report.finished and report.sent == 10
    assert [len(a.received), len(b.received), len(c.received)] == [3, 4, 3]
    # No pause between relays: everything went at the same virtual moment.
    assert report.waits == [] and clock.waits == []
    order = sorted(
        (r.message["To"], name)
        for name, sink in (("alpha", a), ("beta", b), ("gamma", c))
        for r in sink.received
    )
    firsts = {f"user{i}@dest.example" for i in range(3)}
    assert {to for to, name in order if name == "alpha"} == firsts


async def test_limits_hold_in_every_rolling_window_and_sending_resumes(
    mailing: Mailing, sinks, clock: ManualClock
):
    a, b = await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=5, daily_limit=12))
    await mailing.add_relay(relay_for(b, "beta", hourly_limit=3, daily_limit=7))
    await make_campaign(mailing, 30)
    start = clock.now()
    report = await mailing.send("spring")
    assert report.finished and report.sent == 30
    for sink, hourly, daily in ((a, 5, 12), (b, 3, 7)):
        assert max_in_window(sink.times(), HOUR) <= hourly
        assert max_in_window(sink.times(), DAY) <= daily
    # 8 per hour until the daily limits (12 + 7 = 19) are used, then a day's wait.
    assert len(a.received) + len(b.received) == 30
    assert report.waits, "the rest waited for a window"
    first_wait = report.waits[0]
    assert first_wait == (start, start + HOUR)
    # The first day: 19 messages; the rest only once the day's window opens again.
    first_day = [t for t in a.times() + b.times() if t < start + DAY]
    assert len(first_day) == 19
    later = min(t for t in a.times() + b.times() if t >= start + DAY)
    assert later == start + DAY  # resumed the moment the first day's sends expired


async def test_limits_survive_a_restart(mailing: Mailing, sinks, clock: ManualClock):
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=4, daily_limit=0))
    await make_campaign(mailing, 6)
    await mailing.queue("spring")
    # A claim (as a node that then died would make) reserves the hour's room.
    campaign = await mailing.campaign("spring")
    claimed = await mailing.store.claim(
        campaign.id, (await mailing.list_relays())[0], "x", 10, clock.now(), 60
    )
    assert len(claimed) == 4  # the store grants only the hour's room
    await mailing.store.unclaim([c.id for c in claimed])
    status = (await mailing.status())[0]
    assert status.quota.remaining_hour == 0 and status.quota.next_window == clock.now() + HOUR
    clock.advance(10)
    report = await mailing.send("spring")
    # The 4 reservations still count: the next send waits for their hour.
    assert report.finished
    assert min(a.times()) == 1_000_000.0 + HOUR


async def test_unlimited_relay_takes_everything(mailing: Mailing, sinks):
    a, b = await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", concurrency=3, per_connection=4))
    await mailing.add_relay(relay_for(b, "beta"))
    await make_campaign(mailing, 25)
    report = await mailing.send("spring")
    assert report.sent == 25 and len(a.received) == 25 and not b.received
    # several messages per connection, at most per_connection each
    assert 7 <= a.connections <= 10


async def test_disabled_relay_is_skipped(mailing: Mailing, sinks):
    a, b = await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", enabled=False))
    await mailing.add_relay(relay_for(b, "beta"))
    await make_campaign(mailing, 3)
    await mailing.send("spring")
    assert not a.received and len(b.received) == 3


async def test_two_nodes_share_the_limits(mailing: Mailing, sinks, clock: ManualClock, store):
    """Two schedulers on two connections to one database (two nodes) split the work
    without sending anyone twice and without overshooting any window."""
    from postfach.store import Store

    a, b = await sinks(), await sinks()
    await mailing.add_relay(relay_for(a, "alpha", hourly_limit=7, concurrency=2, per_connection=3))
    await mailing.add_relay(relay_for(b, "beta", hourly_limit=5, concurrency=2, per_connection=2))
    await make_campaign(mailing, 30)
    await mailing.queue("spring")
    other_store = await Store.connect(store.url)
    try:
        other = await Mailing.open(other_store, mailing.config, clock=clock)
        campaign = await mailing.campaign("spring")
        reports = await asyncio.gather(
            # Leases outlast the virtual clock's jumps (in real time a send takes seconds).
            mailing.scheduler(lease=DAY).run(campaign),
            other.scheduler(lease=DAY).run(campaign),
        )
    finally:
        await other_store.close()
    assert all(r.finished for r in reports)
    assert sum(r.sent for r in reports) == 30
    everyone = sorted(r.rcpt for r in a.received + b.received)
    assert everyone == sorted(f"user{i}@dest.example" for i in range(30))
    assert max_in_window(a.times(), HOUR) <= 7 and max_in_window(b.times(), HOUR) <= 5


async def test_one_run_per_campaign_in_a_process(mailing: Mailing, sinks):
    """The service and an API-started send must not both send one campaign."""
    a = await sinks()
    await mailing.add_relay(relay_for(a, "alpha"))
    await make_campaign(mailing, 20)
    first, second = await asyncio.gather(mailing.send("spring"), mailing.send("spring"))
    reports = sorted((first, second), key=lambda r: r.already_running)
    assert reports[0].sent == 20 and reports[0].finished
    assert reports[1].already_running and reports[1].sent == 0
    assert len(a.received) == 20
