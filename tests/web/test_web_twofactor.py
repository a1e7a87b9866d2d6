"""Two-factor sign-in (R2) over the web pages, and what it means for mail
programs over IMAP, POP3 and SMTP: app passwords only, in the guide's words."""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import re
import smtplib
import time

import pyotp
from sqlalchemy import select

from postfach.store.schema_access import recovery_codes

from .webhelpers import PASSWORD, csrf_of, page_csrf, sign_in

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODES = re.compile(r"<li><code>([a-z0-9-]{12})</code></li>")
REFUSAL = "Two-factor sign-in is on for this account: use an app password"


async def turn_on(client) -> tuple[str, list[str]]:
    """Through the pages, as a user with an authenticator app: the secret and the
    recovery codes shown once."""
    csrf = await page_csrf(client, "/two-factor")
    assert (await client.post("/two-factor/begin", data={"csrf": csrf})).status_code == 303
    page = await client.get("/two-factor")
    assert 'src="data:image/svg+xml;charset=utf-8,%3Csvg%20xmlns' in page.text  # the QR code
    secret = _SECRET.search(page.text).group(1).replace(" ", "")
    done = await client.post(
        "/two-factor/enable", data={"csrf": csrf_of(page.text), "code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 200, done.text
    assert "Two-factor sign-in is on" in done.text
    codes = _CODES.findall(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


async def second_step(client, code: str):
    page = await client.get("/login/code?next=/mail")
    return await client.post(
        "/login/code", data={"csrf": csrf_of(page.text), "code": code, "next": "/mail"}
    )


def code_after(secret: str, last_used_at: float) -> str:
    """A code of a later time step than one already used (RFC 6238 §5.2: a step
    is accepted once), as the app would show it 30 s on."""
    return pyotp.TOTP(secret).at(last_used_at + 30)


async def test_turning_on_then_signing_in_asks_for_the_code(web):
    assert (await sign_in(web.client, "alice@example.org")).status_code == 303
    secret, _codes = await turn_on(web.client)
    enabled_at = time.time()
    # This browser got a new session and stays signed in.
    assert (await web.client.get("/two-factor")).status_code == 200
    async with web.new_client() as other:
        answer = await sign_in(other, "alice@example.org")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login/code")
        assert (await other.get("/mail")).status_code == 303  # not signed in yet
        wrong = await second_step(
            other, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        )
        assert wrong.status_code == 401 and "That code is not right" in wrong.text
        # The code that turned it on was of this step: the next step's code is needed.
        right = await second_step(other, code_after(secret, enabled_at))
        assert right.status_code == 303 and right.headers["location"] == "/mail"
        assert (await other.get("/mail")).status_code == 200
    async with web.new_client() as third:
        await sign_in(third, "alice@example.org")
        again = await second_step(third, code_after(secret, enabled_at))
        assert again.status_code == 401  # the same step twice: refused


async def test_recovery_codes_work_once_and_are_stored_hashed(web):
    await sign_in(web.client, "alice@example.org")
    _secret, codes = await turn_on(web.client)
    async with web.new_client() as other:
        await sign_in(other, "alice@example.org")
        assert (await second_step(other, codes[0].upper())).status_code == 303
    async with web.new_client() as again:
        await sign_in(again, "alice@example.org")
        assert (await second_step(again, codes[0])).status_code == 401
    async with web.ctx.store.read() as conn:
        stored = [r.code_sha256 for r in (await conn.execute(select(recovery_codes))).all()]
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in stored)
    factor = await web.ctx.store.signin.second_factor(web.alice.id)
    assert factor is not None and factor.recovery_left == 9


async def test_five_wrong_codes_end_the_sign_in(web):
    await sign_in(web.client, "alice@example.org")
    secret, _ = await turn_on(web.client)
    async with web.new_client() as other:
        await sign_in(other, "alice@example.org")
        for _ in range(4):
            assert (await second_step(other, "12345")).status_code == 401
        last = await second_step(other, "12345")
        assert last.status_code == 303 and last.headers["location"] == "/login?expired=1"
        # The pending sign-in is gone: even a right code needs the password again.
        after = await second_step(other, code_after(secret, time.time()))
        assert after.headers["location"] == "/login?expired=1"


def imap_login(port: int, password: str) -> str:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        return imap.login("alice@example.org", password)[0]
    except imaplib.IMAP4.error as exc:
        return str(exc)
    finally:
        imap.shutdown()


def pop3_login(port: int, password: str) -> str:
    pop = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        pop.user("alice@example.org")
        return pop.pass_(password).decode()
    except poplib.error_proto as exc:
        return exc.args[0].decode()
    finally:
        pop.close()


def smtp_login(port: int, password: str) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        try:
            code, text = smtp.login("alice@example.org", password)
        except smtplib.SMTPAuthenticationError as exc:
            code, text = exc.smtp_code, exc.smtp_error
        return f"{code} {text.decode()}"


async def test_mail_programs_need_an_app_password_while_it_is_on(web):
    server = web.server
    await sign_in(web.client, "alice@example.org")
    csrf = await page_csrf(web.client, "/app-passwords")
    made = await web.client.post("/app-passwords", data={"csrf": csrf, "name": "phone"})
    app_password = re.search(r'id="new-password">([^<]+)<', made.text).group(1)
    secret, _ = await turn_on(web.client)
    enabled_at = time.time()

    imap = await asyncio.to_thread(imap_login, server.port("imap"), PASSWORD)
    assert f"[AUTHENTICATIONFAILED] {REFUSAL}" in imap
    pop = await asyncio.to_thread(pop3_login, server.port("pop3"), PASSWORD)
    assert pop == f"-ERR [AUTH] {REFUSAL[0].lower()}{REFUSAL[1:]}"
    smtp = await asyncio.to_thread(smtp_login, server.port("submission"), PASSWORD)
    assert smtp == f"534 5.7.9 {REFUSAL}"
    assert await asyncio.to_thread(imap_login, server.port("imap"), app_password) == "OK"
    assert (await asyncio.to_thread(pop3_login, server.port("pop3"), app_password)).startswith(
        "+OK"
    )
    assert (
        await asyncio.to_thread(smtp_login, server.port("submission"), app_password)
    ).startswith("235")

    # Off again (password and a code): the account's password works everywhere again.
    page = await web.client.get("/two-factor")
    off = await web.client.post(
        "/two-factor/disable",
        data={
            "csrf": csrf_of(page.text),
            "password": PASSWORD,
            "code": code_after(secret, enabled_at),
        },
    )
    assert "Two-factor sign-in is off" in off.text
    assert await asyncio.to_thread(imap_login, server.port("imap"), PASSWORD) == "OK"
