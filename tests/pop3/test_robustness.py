"""Bad input over the wire: the session answers -ERR with a reason and survives.

Pipelining (RFC 2449 §6.6), unknown commands, overlong lines, arguments out of
range, too many errors, and arbitrary lines from hypothesis in both states.
"""

from __future__ import annotations

import asyncio
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.pop3 import replies
from postfach.pop3.server import MAX_LINE
from postfach.pop3.session import MAX_ERRORS

from .helpers import PASSWORD, Wire, fill, message


async def test_pipelined_commands(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1), message(2)])
    wire = await Wire.open(server)
    await wire.send(
        b"CAPA\r\nUSER a@example.org\r\nPASS " + PASSWORD.encode() + b"\r\nSTAT\r\n"
        b"UIDL\r\nRETR 1\r\nRETR 2\r\nDELE 1\r\nLIST\r\nQUIT\r\n"
    )
    assert (await wire.line()).startswith(b"+OK")
    assert b"PIPELINING" in await wire.body()
    assert (await wire.line()).startswith(b"+OK")
    assert (await wire.line()).startswith(b"+OK logged in")
    assert (await wire.line()).startswith(b"+OK 2 ")
    assert (await wire.line()).startswith(b"+OK")
    assert len(await wire.body()) == 2
    for n in (1, 2):
        assert (await wire.line()).startswith(b"+OK")
        assert b"Subject: message %d" % n in await wire.body()
    assert await wire.line() == b"+OK message 1 deleted\r\n"
    assert (await wire.line()).startswith(b"+OK 1 messages")
    assert [line.split()[0] for line in await wire.body()] == [b"2"]
    assert (await wire.line()).startswith(b"+OK")
    assert await wire.closed()


async def test_unknown_and_malformed_commands(server):
    wire = await Wire.open(server)
    assert await wire.cmd(b"HELO there") == b"-ERR unknown command\r\n"
    assert await wire.cmd(b"") == b"-ERR empty command\r\n"
    assert await wire.cmd(b"\x00\xff\xfe") == b"-ERR unknown command\r\n"
    assert await wire.cmd(b"CAPA now") == b"-ERR this command takes no arguments\r\n"
    assert await wire.cmd(b"USER") == b"-ERR expected one user name\r\n"
    assert (await wire.cmd(b"CAPA")).startswith(b"+OK")
    await wire.body()
    await wire.close()


async def test_arguments_out_of_range(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1)])
    wire = await Wire.open(server)
    await wire.login()
    assert await wire.cmd(b"RETR 2") == replies.NO_SUCH_MESSAGE
    assert await wire.cmd(b"RETR 99999999999999") == b"-ERR invalid message number\r\n"
    assert await wire.cmd(b"TOP 1 -1") == b"-ERR invalid number of lines\r\n"
    assert await wire.cmd(b"LIST one") == b"-ERR invalid message number\r\n"
    assert (await wire.cmd(b"TOP 1 999999999")).startswith(b"+OK")
    await wire.body()
    await wire.close()


async def test_overlong_line_is_refused_and_skipped(server):
    wire = await Wire.open(server)
    await wire.send(b"USER " + b"x" * (MAX_LINE * 3) + b"\r\nNOOP\r\n")
    assert await wire.line() == replies.LINE_TOO_LONG
    assert await wire.line() == replies.NOT_AUTHENTICATED  # the NOOP after it
    assert await wire.cmd(b"USER " + b"y" * 300) == b"-ERR user name too long\r\n"
    await wire.close()


async def test_bare_lf_line_ends_are_accepted(server):
    await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    await wire.send(b"USER a@example.org\nPASS " + PASSWORD.encode() + b"\nSTAT\n")
    assert (await wire.line()).startswith(b"+OK")
    assert (await wire.line()).startswith(b"+OK logged in")
    assert (await wire.line()).startswith(b"+OK 0 0")
    await wire.close()


async def test_too_many_errors_end_the_session(server):
    wire = await Wire.open(server)
    for _ in range(MAX_ERRORS - 1):
        assert await wire.cmd(b"BOGUS") == b"-ERR unknown command\r\n"
    assert await wire.cmd(b"BOGUS") == b"-ERR unknown command\r\n"
    assert await wire.line() == replies.TOO_MANY_ERRORS
    assert await wire.closed()


async def test_connection_closed_mid_line(server):
    wire = await Wire.open(server)
    await wire.send(b"USER a@exam")
    await wire.close()
    other = await Wire.open(server)
    assert (await other.cmd(b"QUIT")).startswith(b"+OK")


LINES = st.lists(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")).filter(
        lambda b: not b.strip().upper().startswith(b"STLS")
    )
    | st.sampled_from(
        [b"RETR 1", b"TOP 1 3", b"LIST", b"UIDL 1", b"DELE 1", b"RSET", b"AUTH PLAIN", b"*",
         b"AUTH LOGIN", b"USER a@example.org", b"NOOP", b"CAPA", b"STAT", b"RETR 0"]
    ),
    max_size=12,
)


def _transcript(host: str, port: int, lines: list[bytes], log_in: bool) -> bytes:
    """A blocking client: optionally log in, send the lines, then QUIT; return all output."""
    with socket.create_connection((host, port), timeout=10) as sock:
        prelude = b"USER a@example.org\r\nPASS %s\r\n" % PASSWORD.encode() if log_in else b""
        sock.sendall(prelude + b"".join(line + b"\r\n" for line in lines) + b"*\r\nQUIT\r\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _check(output: bytes) -> None:
    assert output.startswith(b"+OK")
    assert output.endswith(b"\r\n")
    assert b"Traceback" not in output and b"internal" not in output
    last = output[:-2].rsplit(b"\r\n", 1)[-1]
    assert last.startswith((b"+OK", b"-ERR")), last


async def test_arbitrary_lines_to_a_live_session(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1), message(2, b".dot\r\n")])
    host, port = server.host, server.port("pop3")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=LINES, log_in=st.booleans())
    def fuzz(lines: list[bytes], log_in: bool) -> None:
        _check(_transcript(host, port, lines, log_in))

    await asyncio.to_thread(fuzz)
    # The server still works, and the maildrop is intact (default: keep).
    wire = await Wire.open(server)
    await wire.login()
    assert (await wire.cmd(b"STAT")).startswith(b"+OK 2 ")
    await wire.close()
