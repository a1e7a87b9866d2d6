"""The doctor against a server that sends anything: a report, never an exception."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.clientsetup import CheckOptions, Status, Target, run_checks

OPTIONS = CheckOptions(timeout=0.3, greeting_wait=0.2)
PREFIXES = [b"", b"* OK hi\r\n", b"+OK hi\r\n", b"220 hi\r\n", b"220-a\r\n"]


async def _against(blob: bytes, security: str) -> list[Status]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            writer.write(blob)
            for _ in range(6):
                if not await reader.readline():
                    break
                writer.write(blob)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        targets = [Target(p, "127.0.0.1", port, security) for p in ("IMAP", "POP3", "SMTP")]
        results = await asyncio.wait_for(
            run_checks("a@b.example", "pw", targets=targets, options=OPTIONS), 20
        )
    finally:
        server.close()
    return [r.status for r in results]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(PREFIXES),
    st.binary(max_size=300),
    st.sampled_from(["STARTTLS", "none", "SSL/TLS"]),
)
def test_any_server_bytes_give_a_report(prefix: bytes, noise: bytes, security: str) -> None:
    statuses = asyncio.run(_against(prefix + noise, security))
    assert statuses and Status.PASS in statuses  # at least resolve and connect passed
