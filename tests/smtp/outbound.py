"""Outbound-queue test helpers: an aiosmtpd sink with scripted replies, and a server
whose transport map sends example.net to it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiosmtpd.smtp import SMTP as SinkSMTP
from aiosmtpd.smtp import Envelope

from harness import TestServer, make_server
from postfach.store.api import StoreApi
from smtp.smtpwire import Wire

MESSAGE = b"From: a@example.org\r\nTo: x@example.net\r\nSubject: out\r\n\r\nHello out there.\r\n"


class Sink:
    """aiosmtpd handler: answers DATA with the scripted replies, then 250."""

    def __init__(self, script: list[str] | None = None, rcpt: str = "") -> None:
        self.script = list(script or [])
        self.rcpt = rcpt
        self.received: list[Envelope] = []
        self.attempts = 0

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001
        if self.rcpt:
            return self.rcpt
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.attempts += 1
        if self.script:
            return self.script.pop(0)
        self.received.append(envelope)
        return "250 2.0.0 Ok: queued"


@contextlib.asynccontextmanager
async def sink_server(sink: Sink) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SinkSMTP(sink, hostname="sink.test", loop=loop), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@contextlib.asynccontextmanager
async def outbound(tmp_path: Path, sink: Sink, **queue: float) -> AsyncIterator[TestServer]:
    async with (
        sink_server(sink) as port,
        make_server(
            tmp_path,
            transport={"example.net": f"127.0.0.1:{port}"},
            queue={"retry_base": 0.2, **queue},
        ) as server,
    ):
        await server.add_user("a@example.org", "pw")
        yield server


async def submit(server: TestServer, rcpt: str = "x@example.net", params: str = "") -> None:
    wire = await Wire.open(server.host, server.port("submission"))
    await wire.start()
    await wire.login("a@example.org", "pw")
    await wire.expect("MAIL FROM:<a@example.org>", 250)
    await wire.expect(f"RCPT TO:<{rcpt}>{params}", 250)
    await wire.expect("DATA", 354)
    await wire.send(MESSAGE + b".\r\n")
    code, _ = await wire.reply()
    assert code == 250
    await wire.expect("QUIT", 221)


async def eventually(check, timeout: float = 10.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


def queue_of(server: TestServer) -> StoreApi:
    return server.ctx.store
