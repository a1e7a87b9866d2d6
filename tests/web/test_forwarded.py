"""Issue 17, point 3, on the web listener: X-Forwarded-For and Forwarded (RFC 7239)
are believed only from `proxy.trusted`, the list the PROXY headers are held to.
Seen where it counts: the address in the failed sign-in's log line (and so in
the login throttle)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from harness import make_server
from postfach.net.proxyproto import TrustedProxies
from postfach.web.forwarded import forwarded_for

from .webhelpers import csrf_of


async def failed_sign_in_ip(
    port: int, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> str:
    caplog.clear()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        page = await client.get("/login")
        token = csrf_of(page.text)
        # The sign-in cookie is Secure: over plain HTTP the client must be told to send it.
        cookie = f"postfach_login={page.cookies['postfach_login']}"
        answer = await client.post(
            "/login",
            data={"csrf": token, "address": "a@example.org", "password": "wrong", "next": "/"},
            headers={**headers, "cookie": cookie},
        )
        assert answer.status_code == 401, answer.text
    [line] = [r.getMessage() for r in caplog.records if "auth failed" in r.getMessage()]
    return line.split("ip=<")[1].split(">")[0]


async def test_forwarded_headers_from_trusted_proxies_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with make_server(tmp_path, proxy={"trusted": ["127.0.0.1/32"]}) as server:
        await server.add_user("a@example.org", "right password")
        port = server.port("http")
        xff = {"x-forwarded-for": "198.51.100.1, 203.0.113.5"}
        assert await failed_sign_in_ip(port, xff, caplog) == "203.0.113.5"
        forwarded = {"forwarded": 'for="[2001:db8::7]:4711";proto=https'}
        assert await failed_sign_in_ip(port, forwarded, caplog) == "2001:db8::7"
        assert await failed_sign_in_ip(port, {}, caplog) == "127.0.0.1"
    async with make_server(tmp_path / "b", proxy={"trusted": ["192.0.2.0/24"]}) as server:
        await server.add_user("a@example.org", "right password")
        spoofed = {"x-forwarded-for": "203.0.113.5", "forwarded": "for=203.0.113.6"}
        assert await failed_sign_in_ip(server.port("http"), spoofed, caplog) == "127.0.0.1"


def test_the_chain_is_read_from_the_right() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    # the client wrote 1.1.1.1 itself; the proxies appended 203.0.113.9 and 10.0.0.2
    assert forwarded_for("10.0.0.1", ["1.1.1.1", "203.0.113.9", "10.0.0.2"], trusted) == (
        "203.0.113.9"
    )
    assert forwarded_for("192.0.2.1", ["1.1.1.1"], trusted) == "192.0.2.1"  # peer not trusted
    assert forwarded_for("10.0.0.1", ["10.0.0.3"], trusted) == "10.0.0.3"  # all trusted
