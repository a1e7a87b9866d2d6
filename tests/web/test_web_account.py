"""The user's pages: sign-in (throttled, CSRF-protected, safe cookies), "Mail
programs", app passwords, password change and "Log out on all devices"."""

from __future__ import annotations

import re

import pytest

from postfach.store.events import ChangeCredentials
from postfach.web.sessions import LOGIN_COOKIE, SESSION_COOKIE

from .webhelpers import PASSWORD, csrf_of, page_csrf, sign_in


def cookie_header(response, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return value
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_sign_in_sets_a_safe_session_cookie(web):
    response = await sign_in(web.client, "alice@example.org")
    assert response.status_code == 303 and response.headers["location"] == "/mail"
    cookie = cookie_header(response, SESSION_COOKIE).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/" in cookie
    page = await web.client.get("/mail")
    assert page.status_code == 200 and "alice@example.org" in page.text
    # The cookie holds a random id; the store keeps only its hash.
    session_id = web.client.cookies[SESSION_COOKIE]
    assert await web.ctx.store.web.get_web_session(session_id) is not None
    assert await web.ctx.store.web.get_web_session(session_id[:-1] + "x") is None


async def test_the_local_part_alone_signs_in_on_a_one_domain_server(web):
    assert (await sign_in(web.client, "Alice")).status_code == 303


async def test_pages_need_sign_in(web):
    for path in (
        "/mail", "/settings", "/app-passwords", "/password", "/mail/search?q=x", "/rules",
        "/rules/script",
    ):  # fmt: skip
        response = await web.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    assert (await web.client.get("/")).headers["location"] == "/login"


@pytest.mark.parametrize("password", ["wrong password", ""])
async def test_wrong_password_is_refused(web, password):
    response = await sign_in(web.client, "alice@example.org", password)
    assert response.status_code == 401
    assert "Wrong address or password." in response.text
    assert SESSION_COOKIE not in web.client.cookies


async def test_unknown_user_gets_the_same_answer(web):
    response = await sign_in(web.client, "nobody@example.org")
    assert response.status_code == 401 and "Wrong address or password." in response.text


async def test_sign_in_is_throttled_like_the_protocols(web):
    for _ in range(web.ctx.config.auth.max_failures):
        assert (await sign_in(web.client, "alice@example.org", "bad")).status_code == 401
    response = await sign_in(web.client, "alice@example.org")  # even the right password
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text


async def test_an_app_password_does_not_open_the_web_pages(web):
    response = await web.client.post(
        "/api/v1/accounts/alice@example.org/app-passwords", json={"name": "x"}
    )
    assert response.status_code == 401  # (and no API token either)
    from postfach.auth.passwords import hash_password_async, normalize_app_password

    await web.ctx.store.accounts.add_app_password(
        web.alice.id,
        "phone",
        await hash_password_async(normalize_app_password("abcd-efgh-ijkl-mnop")),
    )
    assert (
        await sign_in(web.client, "alice@example.org", "abcd-efgh-ijkl-mnop")
    ).status_code == 401


async def test_sign_in_form_needs_its_csrf_token(web):
    await web.client.get("/login")
    response = await web.client.post(
        "/login", data={"csrf": "forged", "address": "alice@example.org", "password": PASSWORD}
    )
    assert response.status_code == 403
    web.client.cookies.delete(LOGIN_COOKIE)
    response = await web.client.post(
        "/login", data={"csrf": "", "address": "alice@example.org", "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_cross_site_posts_are_refused(web):
    token = csrf_of((await web.client.get("/login")).text)
    response = await web.client.post(
        "/login",
        data={"csrf": token, "address": "alice@example.org", "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    await sign_in(web.client, "alice@example.org")
    token = await page_csrf(web.client)
    response = await web.client.post(
        "/settings", data={"csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert (await web.ctx.store.accounts.get_account("alice@example.org")).imap_enabled


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_no_open_redirect_after_sign_in(web, target):
    token = csrf_of((await web.client.get("/login")).text)
    response = await web.client.post(
        "/login",
        data={"csrf": token, "address": "alice@example.org", "password": PASSWORD, "next": target},
    )
    assert response.headers["location"] == "/mail"


async def test_security_headers(web):
    response = await web.client.get("/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text


async def test_mail_programs_page(web):
    await sign_in(web.client, "alice@example.org")
    page = await web.client.get("/settings")
    assert "Settings for alice@example.org" in page.text
    for spec in ("imaps", "pop3s", "submissions", "submission"):
        port = web.ctx.config.listener(spec).port
        assert f"<td>{port}</td>" in page.text
    token = csrf_of(page.text)
    response = await web.client.post(
        "/settings",
        data={"csrf": token, "imap_enabled": "on", "pop3_folders": ["INBOX", "Spam", "NoSuch"],
              "pop3_mark_read": "on", "pop3_delete": "trash", "save_sent": "on"},
    )  # fmt: skip
    assert response.status_code == 200 and "Saved." in response.text
    account = await web.ctx.store.accounts.get_account("alice@example.org")
    assert account.imap_enabled and not account.pop3_enabled
    assert account.pop3_folders == ("INBOX", "Spam")
    assert account.pop3_mark_read and account.save_sent
    assert account.pop3_delete.value == "trash"
    # Unchecked boxes switch things off; a bad choice falls back to keep.
    await web.client.post("/settings", data={"csrf": token, "pop3_delete": "shred"})
    account = await web.ctx.store.accounts.get_account("alice@example.org")
    assert not account.imap_enabled and account.pop3_folders == ("INBOX",)
    assert account.pop3_delete.value == "keep"


async def test_settings_post_needs_the_session_token(web):
    await sign_in(web.client, "alice@example.org")
    response = await web.client.post("/settings", data={"csrf": "x" * 43})
    assert response.status_code == 403
    assert (await web.ctx.store.accounts.get_account("alice@example.org")).imap_enabled


async def test_app_passwords_page(web):
    await sign_in(web.client, "alice@example.org")
    token = await page_csrf(web.client, "/app-passwords")
    response = await web.client.post("/app-passwords", data={"csrf": token, "name": "phone"})
    shown = re.search(r'id="new-password">([a-z-]+)<', response.text).group(1)
    assert len(shown) == 19
    ok = await web.ctx.auth.authenticate("alice@example.org", shown, "imap", "10.0.0.1")
    assert ok.ok and ok.app_password == "phone"
    page = await web.client.get("/app-passwords")
    assert "phone" in page.text and shown not in page.text  # shown once only
    again = await web.client.post("/app-passwords", data={"csrf": token, "name": "phone"})
    assert again.status_code == 422 and "exists already" in again.text
    response = await web.client.post("/app-passwords/revoke", data={"csrf": token, "name": "phone"})
    assert response.status_code == 303
    assert not (await web.ctx.auth.authenticate("alice@example.org", shown, "imap", "10.0.0.1")).ok
    assert await web.ctx.store.accounts.list_app_passwords(web.alice.id) == []


async def test_change_password(web):
    await sign_in(web.client, "alice@example.org")
    token = await page_csrf(web.client, "/password")
    new = "a much better secret"

    async def change(current, new_password, repeat):
        return await web.client.post(
            "/password",
            data={"csrf": token, "current": current, "new": new_password, "repeat": repeat},
        )

    assert "differ" in (await change(PASSWORD, new, new + "x")).text
    # the one rule of auth.passwords, as the CLI and the admin API say it
    refused = await change(PASSWORD, "short", "short")
    assert "A password needs at least 8 characters." in refused.text
    assert "current password is wrong" in (await change("nope", new, new)).text
    response = await change(PASSWORD, new, new)
    assert response.status_code == 200 and "Password changed" in response.text
    auth = web.ctx.auth
    assert not (await auth.authenticate("alice@example.org", PASSWORD, "imap", "10.0.0.2")).ok
    assert (await auth.authenticate("alice@example.org", new, "imap", "10.0.0.2")).ok
    assert (await web.client.get("/password")).status_code == 200  # this session goes on


async def test_log_out_on_all_devices(web):
    other = web.new_client()
    async with other:
        await sign_in(other, "alice@example.org")
        await sign_in(web.client, "alice@example.org")
        old_id = web.client.cookies[SESSION_COOKIE]
        assert await web.ctx.store.web.count_web_sessions(web.alice.id) == 2
        token = await page_csrf(web.client, "/password")
        with web.ctx.store.hub.watch(web.alice.id) as changes:
            response = await web.client.post("/logout-everywhere", data={"csrf": token})
            change = changes.get_nowait()
        assert isinstance(change, ChangeCredentials) and change.logout
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert (await other.get("/mail")).status_code == 303  # the other browser too
        assert await web.ctx.store.web.get_web_session(old_id) is None
        assert await web.ctx.store.web.count_web_sessions(web.alice.id) == 0
        # Signing in again works; the password did not change.
        assert (await sign_in(web.client, "alice@example.org")).status_code == 303


async def test_a_stale_generation_ends_the_session_even_if_its_row_survives(web):
    await sign_in(web.client, "alice@example.org")
    session_id = web.client.cookies[SESSION_COOKIE]
    # A session row made before the bump (e.g. by another node mid-request).
    await web.ctx.store.accounts.bump_credentials(web.alice.id)
    await web.ctx.store.web.create_web_session(session_id + "2", web.alice.id, 1, "c", 3600)
    assert await web.ctx.store.web.get_web_session(session_id + "2") is None


async def test_sign_out(web):
    await sign_in(web.client, "alice@example.org")
    session_id = web.client.cookies[SESSION_COOKIE]
    token = await page_csrf(web.client, "/mail")
    response = await web.client.post("/logout", data={"csrf": token})
    assert response.status_code == 303
    assert await web.ctx.store.web.get_web_session(session_id) is None
    assert (await web.client.get("/mail")).status_code == 303
