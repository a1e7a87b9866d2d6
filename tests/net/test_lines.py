"""net/lines.py: the one line channel IMAP, POP3 and SMTP frame on, over real sockets.

The server side of each connection is a `LineChannel` on the streams
`asyncio.start_server` gives; the client is a plain asyncio stream (or TLS) client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postfach.net.lines import LineChannel, LineTooLong
from postfach.net.tls import make_self_signed

NOT_HUNG = 10.0  # seconds: a generous bound that only proves "not hung"


@dataclass
class Pair:
    channel: LineChannel
    reader: asyncio.StreamReader  # the client's side
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


@contextlib.asynccontextmanager
async def connected(**channel_options: Any) -> AsyncIterator[Pair]:
    """A LineChannel on the server end of a real TCP connection, and its client."""
    made: asyncio.Future[LineChannel] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel_options.setdefault("max_line", 100)
        made.set_result(LineChannel(reader, writer, **channel_options))
        await done.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = await asyncio.wait_for(made, NOT_HUNG)
    try:
        yield Pair(channel, reader, writer)
    finally:
        done.set()
        channel.close()
        writer.close()
        server.close()
        await server.wait_closed()


async def line(pair: Pair, **options: bool) -> bytes:
    return await asyncio.wait_for(pair.channel.read_line(**options), NOT_HUNG)


async def test_pipelined_lines_come_one_by_one_without_their_line_ends() -> None:
    async with connected() as pair:
        await pair.send(b"one\r\ntwo\nthree\r\n")
        assert [await line(pair) for _ in range(3)] == [b"one", b"two", b"three"]
        await pair.send(b"four\r\n")
        assert await line(pair, keep_end=True) == b"four\r\n"


async def test_a_line_past_max_line_is_reported_with_its_head_and_the_next_line_survives() -> None:
    async with connected(max_line=100) as pair:
        await pair.send(b"a1 " + b"x" * 500 + b"\r\nnext\r\n")
        with pytest.raises(LineTooLong) as info:
            await line(pair)
        assert info.value.head.startswith(b"a1 xxx")
        assert await line(pair) == b"next"


async def test_an_unended_overlong_line_is_reported_before_it_ends_then_skipped() -> None:
    async with connected(max_line=100) as pair:
        await pair.send(b"y" * 300)  # no line end yet: the reader must not wait for one
        with pytest.raises(LineTooLong):
            await line(pair)
        await pair.send(b"y" * 300 + b"\r\nafter\r\n")
        assert await line(pair) == b"after"


async def test_a_line_of_exactly_max_line_octets_is_taken() -> None:
    async with connected(max_line=100) as pair:
        await pair.send(b"z" * 100 + b"\r\n")
        assert await line(pair) == b"z" * 100


async def test_skip_overlong_waits_for_the_end_of_the_long_line() -> None:
    async with connected(max_line=10) as pair:
        await pair.send(b"q" * 50)
        with pytest.raises(LineTooLong):
            await line(pair)
        skipping = asyncio.ensure_future(pair.channel.skip_overlong())
        await asyncio.sleep(0.05)
        assert not skipping.done()  # the line has not ended yet
        await pair.send(b"qqq\r\nok\r\n")
        await asyncio.wait_for(skipping, NOT_HUNG)
        assert await line(pair) == b"ok"


async def test_read_exact_spans_reads_and_can_drop_what_it_reads() -> None:
    async with connected() as pair:
        reading = asyncio.ensure_future(pair.channel.read_exact(10))
        await pair.send(b"01234")
        await asyncio.sleep(0.01)
        await pair.send(b"56789tail\r\n")
        assert await asyncio.wait_for(reading, NOT_HUNG) == b"0123456789"
        assert await line(pair) == b"tail"
        await pair.send(b"dropped!rest\r\n")
        assert await pair.channel.read_exact(8, keep=False) == b""
        assert await line(pair) == b"rest"


async def test_end_of_input_raises_unless_the_partial_line_is_wanted() -> None:
    async with connected() as pair:
        await pair.send(b"half")
        pair.writer.write_eof()
        with pytest.raises(ConnectionResetError):
            await line(pair)
    async with connected(partial_at_eof=True) as pair:
        await pair.send(b"half")
        pair.writer.write_eof()
        assert await line(pair) == b"half"
        with pytest.raises(ConnectionResetError):
            await line(pair)


async def test_replies_collected_go_out_when_the_channel_waits_for_input() -> None:
    async with connected() as pair:
        pair.channel.write(b"+OK one\r\n")
        pair.channel.write(b"+OK two\r\n")
        reading = asyncio.ensure_future(pair.channel.read_line())
        assert await asyncio.wait_for(pair.reader.readline(), NOT_HUNG) == b"+OK one\r\n"
        assert await asyncio.wait_for(pair.reader.readline(), NOT_HUNG) == b"+OK two\r\n"
        await pair.send(b"x\r\n")
        assert await asyncio.wait_for(reading, NOT_HUNG) == b"x"


async def test_a_silent_peer_gets_the_timeout_reply_and_the_close() -> None:
    timed_out: list[bool] = []
    options = {"idle_timeout": 0.2, "timeout_reply": b"421 idle\r\n"}
    async with connected(**options, on_timeout=lambda: timed_out.append(True)) as pair:
        with pytest.raises(ConnectionResetError):
            await line(pair)
        assert pair.channel.timed_out and timed_out == [True]
        assert await asyncio.wait_for(pair.reader.read(), NOT_HUNG) == b"421 idle\r\n"


async def test_activity_moves_the_idle_deadline() -> None:
    async with connected(idle_timeout=0.5, timeout_reply=b"421 idle\r\n") as pair:
        for n in range(4):  # 4 × 0.2 s: past one timeout in all, never idle for one
            await asyncio.sleep(0.2)
            await pair.send(b"n%d\r\n" % n)
            assert await line(pair) == b"n%d" % n
        assert not pair.channel.timed_out


async def test_a_peer_that_takes_no_replies_is_cut_at_the_idle_timeout() -> None:
    async with connected(idle_timeout=0.3, timeout_reply=b"421 idle\r\n") as pair:
        pair.channel.writer.transport.set_write_buffer_limits(high=1024)
        pair.channel.write(b"x" * (16 << 20))  # more than the socket buffers take
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(pair.channel.flush(), NOT_HUNG)
        assert pair.channel.timed_out


async def test_starttls_upgrades_in_place_and_drops_pipelined_plaintext(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    async with connected() as pair:
        await pair.send(b"STARTTLS\r\nINJECTED\r\n")
        assert await line(pair) == b"STARTTLS"
        await asyncio.sleep(0.05)  # the injected line is in the server's buffer by now
        pair.channel.write(b"220 go ahead\r\n")
        upgrade = asyncio.ensure_future(pair.channel.start_tls(server_context, NOT_HUNG))
        assert await asyncio.wait_for(pair.reader.readline(), NOT_HUNG) == b"220 go ahead\r\n"
        await pair.writer.start_tls(client_context, server_hostname="localhost")
        await asyncio.wait_for(upgrade, NOT_HUNG)
        assert pair.channel.tls
        await pair.send(b"AFTER\r\n")
        assert await line(pair) == b"AFTER"
