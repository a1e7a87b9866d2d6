"""DSN delay notices (RFC 3461 §4.1 NOTIFY=DELAY, RFC 3464 Action: delayed).

A sink answers 451 to every DATA; with a threshold of a fraction of a second the
sender gets one "delayed" report while the queue keeps retrying, and only one
however many retries follow. NOTIFY without DELAY asks for none.
"""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from postfach.store import Store
from postfach.store.queue import NewQueueRecipient
from smtp.outbound import Sink, eventually, outbound, queue_of, submit
from smtp.smtpmailbox import messages_in

THRESHOLD = 0.3


async def test_one_delayed_report_while_retrying(tmp_path: Path) -> None:
    sink = Sink(["451 4.3.0 busy, try later"] * 1000)
    async with outbound(tmp_path, sink, delay_warning=THRESHOLD, retry_base=0.1) as server:
        await submit(server, params=" ORCPT=rfc822;x@example.net")

        async def reports() -> list[bytes]:
            return await messages_in(server.ctx.store, "a@example.org")

        [report] = await eventually(reports)
        attempts = sink.attempts

        async def retried_more() -> bool:
            return sink.attempts >= attempts + 3

        assert await eventually(retried_more)
        assert len(await reports()) == 1, "a second delay notice"
        parsed = email.message_from_bytes(report)
        assert parsed["Subject"] == "Delayed Mail (still being retried)"
        assert parsed.get_content_type() == "multipart/report"
        assert b"Action: delayed" in report
        assert b"Status: 4.3.0" in report
        assert b"Diagnostic-Code: smtp; 451 4.3.0 busy, try later" in report
        assert b"Original-Recipient: rfc822; x@example.net" in report
        assert b"Will-Retry-Until: " in report
        assert b"text/rfc822-headers" in report and b"Hello out there." not in report
        [entry] = await queue_of(server).queue.entries()
        assert entry.recipients[0].status == "queued"


async def test_notify_delay_alone_gets_the_notice(tmp_path: Path) -> None:
    sink = Sink(["451 4.3.0 busy"] * 1000)
    async with outbound(tmp_path, sink, delay_warning=THRESHOLD, retry_base=0.1) as server:
        await submit(server, params=" NOTIFY=DELAY")

        async def reports() -> list[bytes]:
            return await messages_in(server.ctx.store, "a@example.org")

        [report] = await eventually(reports)
        assert b"Action: delayed" in report


@pytest.mark.parametrize("notify", ["FAILURE", "SUCCESS,FAILURE", "NEVER"])
async def test_notify_without_delay_gets_none(tmp_path: Path, notify: str) -> None:
    sink = Sink(["451 4.3.0 busy"] * 1000)
    async with outbound(tmp_path, sink, delay_warning=THRESHOLD, retry_base=0.1) as server:
        await submit(server, params=f" NOTIFY={notify}")

        async def past_threshold() -> bool:
            return sink.attempts >= 4

        assert await eventually(past_threshold)
        assert await messages_in(server.ctx.store, "a@example.org") == []


async def test_the_notice_is_claimed_once(store: Store) -> None:
    message_id = await store.queue.insert("a@example.org", [NewQueueRecipient("x@x.test")], b"x")
    assert await store.queue.claim_delay_notice(message_id)
    assert not await store.queue.claim_delay_notice(message_id)
    [item] = await store.queue.recipients_of(message_id)
    assert item.address == "x@x.test"
    assert await store.queue.delete(message_id)
    assert not await store.queue.claim_delay_notice(message_id)  # gone: nothing to claim
