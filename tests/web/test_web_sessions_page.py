"""The Sessions page: web sessions and mail programs seen, each ended on its own."""

from __future__ import annotations

import asyncio
import imaplib
import re

from .webhelpers import PASSWORD, csrf_of, sign_in

_ROW_SESSION = re.compile(r'name="session" value="([0-9a-f]{64})"')


def imap_login(port: int, password: str) -> str:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        return imap.login("alice@example.org", password)[0]
    except imaplib.IMAP4.error as exc:
        return str(exc)
    finally:
        imap.shutdown()


async def test_web_sessions_are_listed_and_one_can_be_ended(web):
    await sign_in(web.client, "alice@example.org")
    async with web.new_client() as phone:
        phone.headers["user-agent"] = (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
        )
        await sign_in(phone, "alice@example.org")
        assert (await phone.get("/mail")).status_code == 200
        page = await web.client.get("/sessions")
        assert page.status_code == 200
        assert "Chrome on Android" in page.text and "(this one)" in page.text
        sessions = _ROW_SESSION.findall(page.text)
        assert len(sessions) == 2
        # End the phone's: the row that is not "(this one)".
        this_one = re.search(
            r'\(this one\).*?name="session" value="([0-9a-f]{64})"', page.text, re.S
        )
        other = next(s for s in sessions if s != this_one.group(1))
        ended = await web.client.post(
            "/sessions/end", data={"csrf": csrf_of(page.text), "session": other}
        )
        assert ended.headers["location"] == "/sessions"
        assert (await phone.get("/mail")).status_code == 303  # back to the sign-in page
        assert (await web.client.get("/mail")).status_code == 200
    # Another account's session cannot be named: nothing happens to it.
    async with web.new_client() as bob:
        await sign_in(bob, "bob@example.org")
        bob_page = await bob.get("/sessions")
        [bob_session] = _ROW_SESSION.findall(bob_page.text)
        page = await web.client.get("/sessions")
        await web.client.post(
            "/sessions/end", data={"csrf": csrf_of(page.text), "session": bob_session}
        )
        assert (await bob.get("/mail")).status_code == 200


async def test_mail_programs_seen_are_listed_and_an_app_password_revoked_from_there(web):
    await sign_in(web.client, "alice@example.org")
    page = await web.client.get("/app-passwords")
    made = await web.client.post(
        "/app-passwords", data={"csrf": csrf_of(page.text), "name": "laptop"}
    )
    secret = re.search(r'id="new-password">([^<]+)<', made.text).group(1)
    port = web.server.port("imap")
    assert await asyncio.to_thread(imap_login, port, secret) == "OK"
    assert await asyncio.to_thread(imap_login, port, PASSWORD) == "OK"
    page = await web.client.get("/sessions")
    assert "app password “laptop”" in page.text and "the account's password" in page.text
    assert page.text.count("<td>IMAP</td>") == 2 and "127.0.0.1" in page.text
    seen = re.search(
        r'name="seen" value="(\d+)">\s*<input type="hidden" name="app_password" value="laptop"',
        page.text,
    )
    ended = await web.client.post(
        "/sessions/programs/end",
        data={"csrf": csrf_of(page.text), "seen": seen.group(1), "app_password": "laptop"},
    )
    assert ended.headers["location"] == "/sessions"
    assert "AUTHENTICATIONFAILED" in await asyncio.to_thread(imap_login, port, secret)
    page = await web.client.get("/sessions")
    assert "laptop" not in page.text and page.text.count("<td>IMAP</td>") == 1


async def test_ending_needs_the_csrf_token(web):
    await sign_in(web.client, "alice@example.org")
    page = await web.client.get("/sessions")
    [session] = _ROW_SESSION.findall(page.text)
    refused = await web.client.post("/sessions/end", data={"session": session})
    assert refused.status_code == 403
    assert (await web.client.get("/mail")).status_code == 200
