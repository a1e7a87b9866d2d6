"""Issue 17, point 3: the PROXY protocol (v1 and v2) on the mail listeners.

The parser on arbitrary input, then over the wire with the standard library's
clients taught to write the header first: IMAP's login throttle locks the
address the header names, not the proxy's; SMTP's Received line names it;
POP3's log names it; implicit TLS starts after the header; a header from an
address outside `proxy.trusted`, a garbled one and a missing one are refused.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import poplib
import smtplib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import BACKENDS, TestServer, make_server
from postfach.net.proxyproto import (
    ProxyHeader,
    ProxyHeaderError,
    TrustedProxies,
    parse,
    v1_header,
    v2_header,
)
from support.net import insecure_tls_context

PROXIED = ("imap", "imaps", "pop3", "smtp", "submission")
MESSAGE = b"From: x@sender.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"


# -- the parser --------------------------------------------------------------------


def feed(data: bytes) -> ProxyHeader | None:
    """What a listener does: read exactly as much as `parse` asks for, from `data`."""
    taken = b""
    while True:
        result = parse(taken)
        if isinstance(result, ProxyHeader):
            return result
        assert result > 0
        if len(taken) + result > len(data):
            return None  # the input ended first
        taken += data[len(taken) : len(taken) + result]


@given(st.binary(max_size=300))
def test_arbitrary_input_is_a_header_a_need_or_an_error(data: bytes) -> None:
    try:
        result = parse(data)
    except ProxyHeaderError:
        return
    if isinstance(result, ProxyHeader):
        assert 0 < result.length <= len(data)
    else:
        assert result > 0


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)


@given(st.one_of(ipv4, ipv6), ports, st.binary(max_size=40), st.booleans())
def test_a_header_is_read_exactly_and_names_the_client(
    client: str, port: int, after: bytes, version2: bool
) -> None:
    server = "::1" if ":" in client else "127.0.0.1"
    make = v2_header if version2 else v1_header
    header = make(client, port, server, 993)
    result = feed(header + after)
    assert result is not None
    assert result.length == len(header)  # not one octet of what follows
    assert result.client_port == port
    mapped = result.client
    assert mapped is not None
    if version2 and mapped != client:  # an IPv4-mapped IPv6 address reads as IPv4
        assert client.startswith("::ffff:")


def test_v2_local_unknown_and_tlvs() -> None:
    local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00, 0, 0])
    assert feed(local) == ProxyHeader(2, None, None, 16)
    unknown = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"
    assert feed(unknown) == ProxyHeader(1, None, None, len(unknown))
    tlv = bytes([0x04, 0x00, 0x03]) + b"abc"  # PP2_TYPE_NOOP: skipped
    header = v2_header("192.0.2.1", 4000, "127.0.0.1", 143, tlvs=tlv)
    assert feed(header) == ProxyHeader(2, "192.0.2.1", 4000, len(header))


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP4 192.0.2.1 127.0.0.1 99999 25\r\n",
        b"PROXY TCP4 ::1 127.0.0.1 1 25\r\n",
        b"PROXY TCP5 192.0.2.1 127.0.0.1 1 25\r\n",
        b"PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n",
        b"PROXY TCP4 192.0.2.1 127.0.0.1 01 25\r\n",
        b"PROXY " + b"A" * 120,
        b"PROXY TCP4 192.0.2.1\n",
        b"EHLO there\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x30, 0x11, 0, 12]) + bytes(12),  # version 3
        b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x22, 0x11, 0, 12]) + bytes(12),  # command 2
        b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0, 4]) + bytes(4),  # TCP4, too short
    ],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        feed(data)


def test_trusted_networks() -> None:
    trusted = TrustedProxies(["127.0.0.1/32", "10.0.0.0/8", "::1"])
    assert "127.0.0.1" in trusted and "10.2.3.4" in trusted and "::1" in trusted
    assert "::ffff:10.0.0.1" in trusted  # a dual-stack socket's view of an IPv4 peer
    assert "127.0.0.2" not in trusted and "unknown" not in trusted


# -- over the wire -----------------------------------------------------------------


def _connect_with(header: bytes, host: str, port: int, timeout: float | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout)
    sock.sendall(header)
    return sock


class ProxiedImap(imaplib.IMAP4):
    def __init__(self, port: int, header: bytes) -> None:
        self.header = header
        super().__init__("127.0.0.1", port)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _connect_with(self.header, self.host, self.port, timeout)


class ProxiedImapTls(imaplib.IMAP4_SSL):
    def __init__(self, port: int, header: bytes) -> None:
        self.header = header
        super().__init__("127.0.0.1", port, ssl_context=insecure_tls_context())

    def _create_socket(self, timeout: float | None) -> socket.socket:
        plain = _connect_with(self.header, self.host, self.port, timeout)
        return self.ssl_context.wrap_socket(plain, server_hostname=self.host)


class ProxiedPop3(poplib.POP3):
    def __init__(self, port: int, header: bytes) -> None:
        self.header = header
        super().__init__("127.0.0.1", port)

    def _create_socket(self, timeout: float) -> socket.socket:
        return _connect_with(self.header, self.host, self.port, timeout)


class ProxiedSmtp(smtplib.SMTP):
    def __init__(self, port: int, header: bytes) -> None:
        self.header = header
        super().__init__("127.0.0.1", port)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _connect_with(self.header, host, port, timeout)


@pytest.fixture(params=BACKENDS)
async def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    sections: dict[str, Any] = {
        "proxy": {"protocol_listeners": list(PROXIED), "trusted": ["127.0.0.1/32"]},
        "auth": {"allow_plaintext": True, "max_failures": 2, "lockout": 600.0},
    }
    async with make_server(tmp_path, request.param, **sections) as server:
        await server.add_user("b@example.org", "right password")
        yield server


def imap_login(port: int, header: bytes, password: str) -> str:
    imap = ProxiedImap(port, header)
    try:
        imap.login("b@example.org", password)
    except imaplib.IMAP4.error as exc:
        return str(exc)
    imap.logout()
    return "OK"


async def test_imap_throttle_locks_the_proxied_address(proxied: TestServer) -> None:
    port = proxied.port("imap")
    attacker = v1_header("203.0.113.7", 40000, "127.0.0.1", port)
    for _ in range(2):
        got = await asyncio.to_thread(imap_login, port, attacker, "wrong")
        assert "AUTHENTICATIONFAILED" in got
    # The address the header named is held, even with the right password ...
    held = await asyncio.to_thread(imap_login, port, attacker, "right password")
    assert "Too many failed logins" in held
    # ... while another client behind the same proxy (same peer, 127.0.0.1) is not.
    other = v2_header("198.51.100.9", 40001, "127.0.0.1", port)
    assert await asyncio.to_thread(imap_login, port, other, "right password") == "OK"


async def test_implicit_tls_starts_after_the_header(proxied: TestServer) -> None:
    port = proxied.port("imaps")

    def login() -> str:
        imap = ProxiedImapTls(port, v2_header("2001:db8::7", 5000, "::1", port))
        typ, _ = imap.login("b@example.org", "right password")
        imap.logout()
        return str(typ)

    assert await asyncio.to_thread(login) == "OK"


async def test_smtp_received_line_names_the_proxied_client(proxied: TestServer) -> None:
    port = proxied.port("smtp")

    def send() -> None:
        with ProxiedSmtp(port, v2_header("203.0.113.25", 41000, "127.0.0.1", port)) as smtp:
            smtp.sendmail("x@sender.test", ["b@example.org"], MESSAGE)

    await asyncio.to_thread(send)
    [raw] = await inbox(proxied, "b@example.org")
    head = raw.split(b"\r\n\r\n", 1)[0]
    # "from HELO-NAME ([IP])": smtplib's HELO is its own address literal, the IP the header's
    assert b"([203.0.113.25])" in head, head.decode()


async def inbox(server: TestServer, address: str) -> list[bytes]:
    store = server.ctx.store
    account = await store.accounts.get_account(address)
    assert account is not None
    mailbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    assert mailbox is not None
    index = await store.mail.message_index(mailbox.id)
    stored = await store.mail.get_messages(mailbox.id, [m.uid for m in index])
    return [await store.mail.read_raw(m) for m in stored]


async def test_pop3_log_names_the_proxied_client(
    proxied: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = proxied.port("pop3")

    def fail() -> str:
        pop = ProxiedPop3(port, v1_header("2001:db8::5", 6000, "::1", port))
        pop.user("b@example.org")
        try:
            pop.pass_("wrong")
        except poplib.error_proto as exc:
            return str(exc)
        finally:
            pop.close()
        return "accepted"

    with caplog.at_level(logging.INFO):
        assert "-ERR" in await asyncio.to_thread(fail)
    lines = [r.getMessage() for r in caplog.records if "b@example.org" in r.getMessage()]
    assert any("2001:db8::5" in line for line in lines), lines


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Sends `data` and returns what the server says before it closes (a reset: b"")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_garbled_and_missing_headers_are_refused(
    proxied: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert await raw_exchange(proxied.port("imap"), b"a001 LOGIN b x\r\n") == b""
        assert await raw_exchange(proxied.port("smtp"), b"PROXY TCP4 1.2.3 x y z\r\n") == b""
    assert any("bad PROXY header" in r.getMessage() for r in caplog.records)


async def test_no_header_in_time_is_refused(tmp_path: Path) -> None:
    proxy = {"protocol_listeners": ["pop3"], "header_timeout": 0.3}
    async with make_server(tmp_path, proxy=proxy) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port("pop3"))
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no greeting
        writer.close()


async def test_a_header_from_an_untrusted_address_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = {"protocol_listeners": ["imap"], "trusted": ["192.0.2.0/24"]}
    async with make_server(tmp_path, proxy=proxy) as server:
        port = server.port("imap")
        spoofed = v1_header("192.0.2.10", 1000, "127.0.0.1", port)
        with caplog.at_level(logging.INFO):
            assert await raw_exchange(port, spoofed + b"a LOGOUT\r\n") == b""
        assert any("not a trusted proxy" in r.getMessage() for r in caplog.records)
        # A listener without PROXY greets as ever.
        assert (await raw_exchange(server.port("pop3"), b"QUIT\r\n")).startswith(b"+OK")


async def test_the_per_address_limit_counts_proxied_addresses(tmp_path: Path) -> None:
    """All connections come from the proxy (127.0.0.1); the limit of one per address
    applies to the addresses its headers name."""
    sections: dict[str, Any] = {
        "proxy": {"protocol_listeners": ["pop3"]},
        "limits": {"max_connections_per_ip": 1},
    }
    async with make_server(tmp_path, **sections) as server:
        port = server.port("pop3")
        opened = []
        try:
            for client in ("192.0.2.1", "192.0.2.2", "192.0.2.1"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(v2_header(client, 1234, "127.0.0.1", port))
                opened.append(writer)
                greeting = await asyncio.wait_for(reader.readline(), 10)
                opened_ok = greeting.startswith(b"+OK")
                assert opened_ok == (len(opened) < 3), (client, greeting)
        finally:
            for writer in opened:
                writer.close()
