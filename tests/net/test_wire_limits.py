"""Issue 14, points 2 and 3: limits and timeouts every listener holds (net.py, web/guard.py).

A silent or slow client must not keep a slot: IMAP, POP3 and SMTP connections
that do not log in (SMTP: reach MAIL FROM or AUTH) are closed after the
pre-authentication timeout with the protocol's reply, while logged-in sessions
stay; each listener has a cap; HTTP has a per-address limit and header and body
timeouts. All over real sockets, with the timeouts made short in the config.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import TestServer, make_server

NOT_HUNG = 10.0  # seconds: a generous bound that only proves "not hung"
PREAUTH = 0.5
TALKING = 1.5  # pre-auth timeout for clients that send a few commands first
# For the tests that log in first: room for the password check on a busy machine.
ROOMY = 3.0


class Client:
    """A raw line client: send lines, read lines, see the close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1") -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(reader, writer)

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), NOT_HUNG)

    async def send(self, text: str) -> bytes:
        """Sends one command line and returns the first line of the reply."""
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        return await self.line()

    async def closed(self) -> bool:
        """True when the server closed the connection (after any remaining output)."""
        rest = await asyncio.wait_for(self.reader.read(), NOT_HUNG)
        return rest == b"" or rest.endswith(b"\n")

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[TestServer]:
    limits = {"preauth_timeout": PREAUTH, "smtp_preauth_timeout": PREAUTH}
    async with make_server(tmp_path, limits=limits) as server:
        await server.add_user("a@example.org", "pw")
        yield server


@pytest.fixture
async def roomy(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with make_server(tmp_path, limits={"preauth_timeout": ROOMY}) as server:
        await server.add_user("a@example.org", "pw")
        yield server


# -- point 3: the pre-authentication timeout -----------------------------------------


async def test_silent_imap_connection_gets_bye_and_is_closed(limited: TestServer) -> None:
    client = await Client.open(limited.port("imap"))
    assert (await client.line()).startswith(b"* OK")
    assert await client.line() == b"* BYE Autologout; idle for too long\r\n"
    assert await client.closed()


async def test_logged_in_imap_session_outlives_the_preauth_timeout(roomy: TestServer) -> None:
    client = await Client.open(roomy.port("imap"))
    await client.line()
    assert (await client.send("a LOGIN a@example.org pw")).startswith(b"a OK")
    await asyncio.sleep(ROOMY + 0.5)
    assert await client.send("b NOOP") == b"b OK NOOP completed\r\n"
    client.close()


async def test_imap_client_that_keeps_talking_but_never_logs_in_is_cut(
    tmp_path: Path,
) -> None:
    async with make_server(tmp_path, limits={"preauth_timeout": TALKING}) as server:
        client = await Client.open(server.port("imap"))
        await client.line()
        for n in range(3):  # activity does not reset the deadline: it counts from the connect
            await asyncio.sleep(0.2)
            assert (await client.send(f"n{n} NOOP")).startswith(f"n{n} OK".encode())
        assert await client.line() == b"* BYE Autologout; idle for too long\r\n"
        assert await client.closed()


async def test_silent_pop3_connection_gets_err_and_is_closed(limited: TestServer) -> None:
    client = await Client.open(limited.port("pop3"))
    assert (await client.line()).startswith(b"+OK")
    assert (await client.line()).startswith(b"-ERR autologout")
    assert await client.closed()


async def test_logged_in_pop3_session_outlives_the_preauth_timeout(roomy: TestServer) -> None:
    client = await Client.open(roomy.port("pop3"))
    await client.line()
    assert (await client.send("USER a@example.org")).startswith(b"+OK")
    assert (await client.send("PASS pw")).startswith(b"+OK")
    await asyncio.sleep(ROOMY + 0.5)
    assert (await client.send("NOOP")).startswith(b"+OK")
    client.close()


async def test_smtp_session_that_never_reaches_mail_gets_421(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"smtp_preauth_timeout": TALKING}) as server:
        client = await Client.open(server.port("smtp"))
        assert (await client.line()).startswith(b"220 ")
        for _ in range(3):  # RFC 5321 allows 5 min per command; this bounds the whole phase
            await asyncio.sleep(0.2)
            assert (await client.send("NOOP")).startswith(b"250 ")
        assert await client.line() == b"421 4.4.2 Timeout, closing connection\r\n"
        assert await client.closed()


async def test_smtp_transaction_is_not_cut_by_the_preauth_timeout(limited: TestServer) -> None:
    client = await Client.open(limited.port("smtp"))
    await client.line()
    assert (await client.send("HELO client.test")).startswith(b"250 ")
    assert (await client.send("MAIL FROM:<x@sender.test>")).startswith(b"250 ")
    await asyncio.sleep(PREAUTH * 3)
    assert (await client.send("RCPT TO:<a@example.org>")).startswith(b"250 ")
    client.close()


# -- point 3: the per-listener cap ---------------------------------------------------

CAPPED = [
    ("imap", b"* OK", b"* BYE [UNAVAILABLE] Too many connections", "a NOOP", b"a OK"),
    ("pop3", b"+OK", b"-ERR [SYS/TEMP] too many connections", "NOOP", b"-ERR"),
    ("smtp", b"220 ", b"421 4.3.2 Too many connections", "NOOP", b"250 "),
]


@pytest.mark.parametrize(("listener", "greeting", "refusal", "command", "answer"), CAPPED)
async def test_listener_cap_refuses_the_excess_and_keeps_the_others(
    tmp_path: Path, listener: str, greeting: bytes, refusal: bytes, command: str, answer: bytes
) -> None:
    async with make_server(tmp_path, limits={"max_connections": 2}) as server:
        port = server.port(listener)
        first, second = await Client.open(port), await Client.open(port, "127.0.0.2")
        for client in (first, second):
            assert (await client.line()).startswith(greeting)
        third = await Client.open(port, "127.0.0.3")
        assert (await third.line()).startswith(refusal)
        assert await third.closed()
        # POP3 answers NOOP before login with -ERR: still an answer, the session lives.
        assert (await first.send(command)).startswith(answer)
        first.close()
        await asyncio.sleep(0.1)
        fourth = await Client.open(port, "127.0.0.3")  # a slot is free again
        assert (await fourth.line()).startswith(greeting)
        for client in (second, fourth):
            client.close()


# -- point 2: HTTP ------------------------------------------------------------------

GET = "GET /login HTTP/1.1\r\nHost: mail.example.org\r\nConnection: close\r\n\r\n"


async def http_get(port: int, source: str) -> bytes:
    client = await Client.open(port, source)
    client.writer.write(GET.encode())
    response = await asyncio.wait_for(client.reader.read(), NOT_HUNG)
    client.close()
    return response


async def test_idle_http_connections_from_one_address_do_not_lock_out_another(
    tmp_path: Path,
) -> None:
    """Was: 201 idle connections from one address, and everybody got 503."""
    async with make_server(tmp_path, limits={"max_connections_per_ip": 3}) as server:
        port = server.port("http")
        flood = [await Client.open(port, "127.0.0.2") for _ in range(3)]
        excess = [await Client.open(port, "127.0.0.2") for _ in range(200)]
        for client in excess[:5]:
            head = await client.line()
            assert head == b"HTTP/1.1 503 Service Unavailable\r\n"
            assert b"Too many connections from your address" in await client.reader.read()
        response = await http_get(port, "127.0.0.3")
        assert response.startswith(b"HTTP/1.1 200 ")
        for client in flood + excess:
            client.close()


async def test_slow_http_header_block_is_cut_after_the_header_timeout(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"http_header_timeout": 1.0}) as server:
        client = await Client.open(server.port("http"), "127.0.0.2")

        async def dribble() -> None:  # one byte every 0.1 s: a per-byte timeout never fires
            client.writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\n")
            with contextlib.suppress(OSError):
                while True:
                    client.writer.write(b"X")
                    await client.writer.drain()
                    await asyncio.sleep(0.1)

        started = asyncio.get_running_loop().time()
        slow = asyncio.create_task(dribble())
        try:
            response = await asyncio.wait_for(client.reader.read(), NOT_HUNG)
        finally:
            slow.cancel()
        assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert asyncio.get_running_loop().time() - started < NOT_HUNG / 2
        # and a connection that sends nothing at all gets the same
        idle = await Client.open(server.port("http"), "127.0.0.2")
        assert (await idle.line()).startswith(b"HTTP/1.1 408 ")


async def test_stalled_http_body_is_cut_after_the_body_timeout(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"http_body_timeout": 0.5}) as server:
        client = await Client.open(server.port("http"), "127.0.0.2")
        client.writer.write(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 1000\r\n\r\nuser=a"
        )
        response = await asyncio.wait_for(client.reader.read(), NOT_HUNG)  # closed, not hung
        assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        # the listener still serves others
        response = await http_get(server.port("http"), "127.0.0.3")
        assert response.startswith(b"HTTP/1.1 200 ")


async def test_http_listener_cap_refuses_the_excess_and_frees_up(tmp_path: Path) -> None:
    async with make_server(tmp_path, limits={"max_connections": 2}) as server:
        port = server.port("http")
        first, second = await Client.open(port, "127.0.0.2"), await Client.open(port, "127.0.0.3")
        refused = await Client.open(port, "127.0.0.4")
        assert await refused.line() == b"HTTP/1.1 503 Service Unavailable\r\n"
        assert b"Too many connections" in await refused.reader.read()
        first.close()
        await asyncio.sleep(0.1)
        assert (await http_get(port, "127.0.0.4")).startswith(b"HTTP/1.1 200 ")
        second.close()
