"""The outbound queue end to end: submission → queue → an SMTP sink on loopback."""

from __future__ import annotations

import email
from pathlib import Path

import dkim as dkimpy

from harness import make_server
from postfach import dkim
from postfach.queue import admin
from smtp.outbound import MESSAGE, Sink, eventually, outbound, queue_of, sink_server, submit
from smtp.smtpmailbox import messages_in
from smtp.smtpwire import Wire


async def test_delivers_through_the_transport_map(tmp_path: Path) -> None:
    sink = Sink()
    async with outbound(tmp_path, sink) as server:
        await submit(server, params=" NOTIFY=FAILURE ORCPT=rfc822;x@example.net")

        async def arrived() -> bool:
            return bool(sink.received)

        assert await eventually(arrived)
        envelope = sink.received[0]
        assert envelope.mail_from == "a@example.org"
        assert envelope.rcpt_tos == ["x@example.net"]
        content = envelope.original_content or b""
        assert content.endswith(MESSAGE)
        assert b"Received: from client.example" in content

        async def drained() -> bool:
            return not await queue_of(server).queue.entries()

        assert await eventually(drained)


async def test_remote_550_gives_a_report_with_the_reason(tmp_path: Path) -> None:
    sink = Sink(["550 5.1.1 <x@example.net>: Recipient address rejected: no such user"])
    async with outbound(tmp_path, sink) as server:
        await submit(server)

        async def reports() -> list[bytes]:
            return await messages_in(server.ctx.store, "a@example.org")

        [report] = await eventually(reports)
        assert b"From: Mail Delivery System <MAILER-DAEMON@mail.example.org>" in report
        assert b"Recipient address rejected: no such user" in report
        assert b"Status: 5.1.1" in report
        parsed = email.message_from_bytes(report)
        assert parsed.get_content_type() == "multipart/report"
        assert parsed.get_param("report-type") == "delivery-status"
        parts = [p.get_content_type() for p in parsed.walk()]
        assert "message/delivery-status" in parts and "message/rfc822" in parts
        assert not await queue_of(server).queue.entries()


async def test_remote_451_is_retried_then_delivered(tmp_path: Path) -> None:
    sink = Sink(["451 4.3.0 try again later", "451 4.3.0 still busy"])
    async with outbound(tmp_path, sink) as server:
        await submit(server)

        async def arrived() -> bool:
            return bool(sink.received)

        assert await eventually(arrived)
        assert sink.attempts == 3
        assert await messages_in(server.ctx.store, "a@example.org") == []


async def test_rcpt_refusal_and_notify_never(tmp_path: Path) -> None:
    sink = Sink(rcpt="550 5.1.1 unknown")
    async with outbound(tmp_path, sink) as server:
        await submit(server, params=" NOTIFY=NEVER")

        async def drained() -> bool:
            return not await queue_of(server).queue.entries()

        assert await eventually(drained)
        assert await messages_in(server.ctx.store, "a@example.org") == []


async def test_expiry_gives_a_report(tmp_path: Path) -> None:
    sink = Sink(["451 4.3.0 busy"] * 100)
    async with outbound(tmp_path, sink, max_age=0.0) as server:
        await submit(server)

        async def reports() -> list[bytes]:
            return await messages_in(server.ctx.store, "a@example.org")

        [report] = await eventually(reports)
        assert b"delivery time expired" in report
        assert b"451 4.3.0 busy" in report


async def test_queue_admin_list_retry_delete(tmp_path: Path) -> None:
    async with make_server(
        tmp_path, transport={"example.net": "127.0.0.1:9"}, queue={"retry_base": 3600.0}
    ) as server:
        await server.add_user("a@example.org", "pw")
        await submit(server)
        store = queue_of(server)

        async def attempted() -> bool:
            entries = await store.queue.entries()
            return bool(entries and entries[0].recipients[0].attempts)

        assert await eventually(attempted)
        [entry] = await admin.list_entries(store)
        assert entry.sender == "a@example.org"
        text = admin.format_entries([entry])
        assert "x@example.net" in text and "127.0.0.1:9" in text
        assert await admin.retry(store, entry.id) == 1
        assert await admin.delete(store, entry.id)
        assert await admin.list_entries(store) == []
        assert admin.format_entries([]) == "Mail queue is empty"


async def test_outbound_mail_is_dkim_signed(tmp_path: Path) -> None:
    sink = Sink()
    selector, private_pem, txt = dkim.generate_key()
    async with (
        sink_server(sink) as port,
        make_server(
            tmp_path, transport={"example.net": f"127.0.0.1:{port}"}, queue={"retry_base": 0.2}
        ) as server,
    ):
        await server.ctx.store.accounts.add_domain("signed.test", selector, private_pem)
        await server.add_user("s@signed.test", "pw")
        wire = await Wire.open(server.host, server.port("submission"))
        await wire.start()
        await wire.login("s@signed.test", "pw")
        await wire.expect("MAIL FROM:<s@signed.test>", 250)
        await wire.expect("RCPT TO:<x@example.net>", 250)
        await wire.expect("DATA", 354)
        await wire.send(MESSAGE.replace(b"a@example.org", b"s@signed.test") + b".\r\n")
        assert (await wire.reply())[0] == 250

        async def arrived() -> bool:
            return bool(sink.received)

        assert await eventually(arrived)
        content = sink.received[0].original_content or b""
        assert b"DKIM-Signature:" in content
        expected = f"{selector}._domainkey.signed.test.".encode()

        def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
            assert name == expected
            return txt.encode()

        assert dkimpy.verify(content, dnsfunc=dnsfunc)
