"""Bad input over the wire: every command gets OK, NO or BYE, and the session
survives (overlong lines, junk, too many errors, arbitrary lines from hypothesis
before and after login)."""

from __future__ import annotations

import asyncio
import re
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.managesieve import responses
from postfach.managesieve.server import MAX_LINE
from postfach.managesieve.session import MAX_ERRORS

from .helpers import PASSWORD, USER, Wire, literal, plain


async def test_junk_gets_no_and_the_session_goes_on(server):
    wire = await Wire.open(server)
    assert (await wire.cmd(b"FROB")).status == b'NO "unknown command"'
    assert (await wire.cmd(b"\x00\xff")).status.startswith(b"NO ")
    assert (await wire.cmd(b"")).status == b'NO "expected a command name"'
    await wire.send(b"NOOP " + b"x" * (MAX_LINE * 2) + b"\r\nNOOP\r\n")
    assert (await wire.response()).status == responses.LINE_TOO_LONG.rstrip()
    assert (await wire.response()).ok
    assert (await wire.cmd(b"CAPABILITY")).ok


async def test_too_many_errors_end_the_session(server):
    wire = await Wire.open(server)
    for _ in range(MAX_ERRORS - 1):
        assert (await wire.cmd(b"BOGUS")).status == b'NO "unknown command"'
    assert (await wire.cmd(b"BOGUS")).status == b'NO "unknown command"'
    assert (await wire.response()).status == responses.TOO_MANY_ERRORS.rstrip()
    assert await wire.closed()


async def test_connection_closed_inside_a_literal(server):
    await server.add_user(USER, PASSWORD)
    wire = await Wire.open(server)
    assert (await wire.login()).ok
    await wire.send(b'PUTSCRIPT "half" {100+}\r\nkeep;')
    await wire.close()
    other = await Wire.open(server)
    assert (await other.login()).ok
    assert (await other.cmd(b"LISTSCRIPTS")).lines == []


LINES = st.lists(
    st.binary(max_size=60)
    .map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))
    .filter(lambda b: not re.search(rb"(?i)starttls|\{\d+\+?\}\s*$", b))
    | st.sampled_from(
        [
            b"LISTSCRIPTS",
            b'GETSCRIPT "x"',
            b'SETACTIVE ""',
            b'DELETESCRIPT "x"',
            b"NOOP",
            b'PUTSCRIPT "x" "keep;"',
            b'PUTSCRIPT "y" "if;"',
            b'RENAMESCRIPT "x" "z"',
            b'HAVESPACE "x" 10',
            b'CHECKSCRIPT "stop;"',
            b'AUTHENTICATE "LOGIN"',
            b"UNAUTHENTICATE",
        ]
    )
    | st.binary(max_size=200).map(lambda b: b'PUTSCRIPT "fuzz" {%d+}\r\n' % len(b) + b)
    | st.text(max_size=200).map(lambda t: b"CHECKSCRIPT " + literal(t)),
    max_size=10,
)
_STATUS = re.compile(rb"^(OK|NO|BYE)( \([^)]*\))?( \"([^\"\\]|\\.)*\")?\r\n", re.MULTILINE)


def _transcript(host: str, port: int, lines: list[bytes], log_in: bool) -> bytes:
    """A blocking client: optionally log in, send the lines, then LOGOUT; return all output."""
    with socket.create_connection((host, port), timeout=10) as sock:
        prelude = b'AUTHENTICATE "PLAIN" "%s"\r\n' % plain() if log_in else b""
        sock.sendall(prelude + b"".join(line + b"\r\n" for line in lines) + b"LOGOUT\r\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _check(output: bytes) -> None:
    assert output.endswith(b"\r\n")
    assert b"Traceback" not in output and b"internal" not in output.lower()
    assert len(_STATUS.findall(output)) >= 2, output  # at least the greeting's and LOGOUT's
    last = output[:-2].rsplit(b"\r\n", 1)[-1]
    assert last.startswith((b"OK", b"NO", b"BYE")), last


async def test_arbitrary_lines_to_a_live_session(server):
    await server.add_user(USER, PASSWORD)
    host, port = server.host, server.port("managesieve")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=LINES, log_in=st.booleans())
    def fuzz(lines: list[bytes], log_in: bool) -> None:
        _check(_transcript(host, port, lines, log_in))

    await asyncio.to_thread(fuzz)
    wire = await Wire.open(server)
    assert (await wire.login()).ok
    assert (await wire.cmd(b"NOOP")).ok
