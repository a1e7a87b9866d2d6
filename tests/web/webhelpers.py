"""Helpers for the web tests: an ASGI client on the running server's context,
signing in through the real form, and putting messages into folders."""

from __future__ import annotations

import re
from email.message import EmailMessage

import httpx

from postfach.context import ServerContext
from postfach.store.records import Account, Uid
from postfach.web.app import build_app

PASSWORD = "correct horse battery"
BASE_URL = "https://mail.example.org"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def client_for(ctx: ServerContext) -> httpx.AsyncClient:
    """An httpx client talking ASGI to a fresh app on `ctx` (https, so Secure
    cookies are kept)."""
    transport = httpx.ASGITransport(app=build_app(ctx), client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, address: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/login")
    token = csrf_of(page.text)
    return await client.post(
        "/login", data={"csrf": token, "address": address, "password": password, "next": "/mail"}
    )


async def page_csrf(client: httpx.AsyncClient, path: str = "/settings") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def make_message(
    subject: str = "Hello",
    body: str = "Plain words here.",
    sender: str = "Alice Example <alice@example.net>",
    to: str = "someone@example.org",
    html: str | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    msg["Message-ID"] = f"<{abs(hash(subject + body))}@example.net>"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        name, data, ctype = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes().replace(b"\n", b"\r\n")


async def put(
    ctx: ServerContext,
    account: Account,
    folder: str,
    raw: bytes,
    flags: frozenset[str] = frozenset(),
    when: float | None = None,
) -> Uid:
    mailbox = await ctx.store.mailboxes.get_mailbox(account.id, folder)
    assert mailbox is not None
    uid, _ = await ctx.store.mail.append(mailbox.id, raw, flags, when)
    return uid
