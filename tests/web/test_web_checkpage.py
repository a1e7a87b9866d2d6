"""The "Check settings" page: the doctor's checks for a signed-in user (issue 7, R29)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness import TestServer, make_server
from support.net import free_port

from .webhelpers import PASSWORD, client_for, page_csrf, sign_in


@pytest.fixture
async def checked(tmp_path: Path) -> AsyncIterator[TestServer]:
    """Listeners on fixed loopback ports that the settings (and so the checks) name."""
    listeners = {name: "" for name in ("smtp", "submissions", "imap", "pop3s", "devices")}
    listeners.update(
        imaps=f"127.0.0.1:{free_port()}",
        pop3=f"127.0.0.1:{free_port()}",
        submission=f"127.0.0.1:{free_port()}",
    )
    async with make_server(
        tmp_path, server={"public_name": "localhost"}, listeners=listeners
    ) as server:
        await server.add_user("alice@example.org", PASSWORD)
        yield server


async def _run(server: TestServer, password: str) -> str:
    async with client_for(server.ctx) as client:
        await sign_in(client, "alice@example.org")
        token = await page_csrf(client, "/check")
        response = await client.post("/check", data={"csrf": token, "password": password})
        assert response.status_code == 200
        return response.text


async def test_healthy_account_passes_every_step(checked: TestServer) -> None:
    html = await _run(checked, PASSWORD)
    assert "No step failed." in html
    for protocol in ("IMAP", "POP3", "SMTP"):
        assert f"<td>{protocol}</td>" in html
    assert "sender address" in html and PASSWORD not in html


async def test_pop3_switched_off_is_named(checked: TestServer) -> None:
    account = await checked.ctx.store.accounts.get_account("alice@example.org")
    assert account is not None
    await checked.ctx.store.accounts.update_account(account.id, pop3_enabled=False)
    html = await _run(checked, PASSWORD)
    assert "1 step failed." in html
    assert "switched off" in html


async def test_wrong_password_fails_the_logins(checked: TestServer) -> None:
    html = await _run(checked, "not-the-password")
    assert "step" in html and "failed." in html and "No step failed" not in html
    assert "not-the-password" not in html


async def test_without_password_logins_are_skipped(checked: TestServer) -> None:
    html = await _run(checked, "")
    assert "<td>login</td>\n        <td>skip</td>" in html
    # Sending without a login is what the server refuses, and the page says so.
    assert "uthentication required" in html


async def test_page_needs_sign_in_and_csrf(checked: TestServer) -> None:
    async with client_for(checked.ctx) as client:
        assert (await client.get("/check")).status_code in (302, 303)
        await sign_in(client, "alice@example.org")
        assert (await client.post("/check", data={"password": PASSWORD})).status_code == 403
