"""The admin pages (domains, accounts, aliases, quotas, queue) and the
newsletter pages (relays with their room, a campaign's progress and each
recipient's outcome, bounce mailboxes), for admin accounts only."""

from __future__ import annotations

import asyncio
import imaplib
import re
import time

import httpx
import pytest

from postfach.web.app import build_app
from postfach.web.mailing_campaigns import stop_runs
from support.smtpsink import Sink

from .webhelpers import BASE_URL, PASSWORD, csrf_of, page_csrf, sign_in

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
async def admin(web):
    await web.ctx.store.accounts.update_account(web.alice.id, admin=True)
    await sign_in(web.client, "alice@example.org")
    return web


async def test_the_admin_pages_do_not_exist_for_other_accounts(web):
    async with web.new_client() as bob:
        await sign_in(bob, "bob@example.org")
        assert (await bob.get("/admin")).status_code == 404
        assert (await bob.get("/admin/mailing")).status_code == 404
        csrf = await page_csrf(bob, "/settings")
        refused = await bob.post("/admin/domains", data={"csrf": csrf, "name": "evil.example"})
        assert refused.status_code == 404
        assert "Admin" not in (await bob.get("/settings")).text
    assert await web.ctx.store.accounts.get_domain("evil.example") is None


def imap_login(port: int, user: str, password: str) -> str:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        return imap.login(user, password)[0]
    finally:
        imap.logout()


async def test_domains_accounts_quotas_and_aliases(admin):
    c, store = admin.client, admin.ctx.store
    assert ">Admin</a>" in (await c.get("/settings")).text
    csrf = await page_csrf(c, "/admin")
    assert (
        await c.post("/admin/domains", data={"csrf": csrf, "name": "shop.example"})
    ).status_code == 303
    carol_form = {"address": "Carol@Shop.example", "password": "carol-pass-1", "quota": "500M"}
    made = await c.post("/admin/accounts", data={"csrf": csrf, **carol_form})
    assert made.status_code == 303
    carol = await store.accounts.get_account("carol@shop.example")
    assert carol.quota_bytes == 500 * 1024**2
    assert (
        await asyncio.to_thread(
            imap_login, admin.server.port("imap"), "carol@shop.example", "carol-pass-1"
        )
        == "OK"
    )
    short = await c.post(
        "/admin/accounts", data={"csrf": csrf, "address": "x@shop.example", "password": "short"}
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text
    foreign = await c.post("/admin/accounts", data={
        "csrf": csrf, "address": "x@nowhere.example", "password": "long-enough"})  # fmt: skip
    assert "not one of our domains" in foreign.text
    await c.post("/admin/accounts/update", data={
        "csrf": csrf, "address": "carol@shop.example", "quota": "2G", "admin": "on"})  # fmt: skip
    carol = await store.accounts.get_account("carol@shop.example")
    assert carol.quota_bytes == 2 * 1024**3 and carol.admin
    page = await c.get("/admin")
    assert "carol@shop.example" in page.text and 'value="2G"' in page.text
    await c.post(
        "/admin/aliases",
        data={"csrf": csrf, "alias": "info@shop.example", "target": "carol@shop.example"},
    )
    assert [a.address for a in await store.accounts.resolve("info@shop.example")] == [
        "carol@shop.example"
    ]
    await c.post("/admin/aliases/remove", data={"csrf": csrf, "alias": "info@shop.example"})
    assert await store.accounts.resolve("info@shop.example") == []
    # A domain with accounts stays; removing an account wants its address typed.
    busy = await c.post("/admin/domains/remove", data={"csrf": csrf, "name": "shop.example"})
    assert busy.status_code == 422
    unconfirmed = await c.post(
        "/admin/accounts/remove", data={"csrf": csrf, "address": "carol@shop.example"}
    )
    assert unconfirmed.status_code == 422 and await store.accounts.get_account("carol@shop.example")
    confirmed = {"address": "carol@shop.example", "confirm": "carol@shop.example"}
    await c.post("/admin/accounts/remove", data={"csrf": csrf, **confirmed})
    assert await store.accounts.get_account("carol@shop.example") is None
    # Without the CSRF token nothing happens.
    assert (await c.post("/admin/domains", data={"name": "x.example"})).status_code == 403


async def test_the_queue_is_listed_retried_and_emptied(admin):
    c, store = admin.client, admin.ctx.store
    csrf = await page_csrf(c, "/mail/compose")
    await c.post("/mail/compose", data={"csrf": csrf, "do": "send", "to": "far@remote.example",
                                        "subject": "queued", "body": "x"})  # fmt: skip
    [entry] = await store.queue.entries()
    page = await c.get("/admin")
    assert "far@remote.example" in page.text and f'name="id" value="{entry.id}"' in page.text
    retried = await c.post(
        "/admin/queue/retry", data={"csrf": csrf_of(page.text), "id": str(entry.id)}
    )
    assert "will be tried again" in (await c.get(retried.headers["location"])).text
    await c.post("/admin/queue/delete", data={"csrf": csrf_of(page.text), "id": str(entry.id)})
    assert await store.queue.entries() == []


CSV = (
    "email,name\nann@dest.example,Ann\ncid@dest.example,Cid\n"
    "dora@dest.example,Dora\nemil@dest.example,Emil\n"
)


async def test_a_newsletter_through_a_relay_with_an_hourly_limit(admin):
    """Two of four go out in the hour (one refused in the relay's words); the
    relay says "limit reached", the campaign page when sending resumes, and it
    refreshes itself while the run waits for the window."""
    app = build_app(admin.ctx)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    sink = await Sink(login="relay-user", password="relay-Secret-1").start()
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            await sign_in(c, "alice@example.org")
            await _newsletter(admin, c, sink)
    finally:
        await asyncio.wait_for(stop_runs(app), 10)
        await sink.stop()


async def _newsletter(admin, c, sink) -> None:
    sink.replies["cid@dest.example"] = "550 5.1.1 <cid@dest.example>: no such user"
    await admin.ctx.store.web.add_admin_token("tests", "pfat_pages")
    api = {"authorization": "Bearer pfat_pages"}
    await c.post("/api/v1/mailing/lists/customers/contacts", content=CSV.encode(),
                 headers={**api, "content-type": "text/csv"})  # fmt: skip
    campaign = {"name": "spring", "list": "customers", "subject": "News", "text": "Hi {{ name }}"}
    await c.post("/api/v1/mailing/campaigns", headers=api, json=campaign)
    csrf = await page_csrf(c, "/admin/mailing")
    added = await c.post("/admin/mailing/relays", data={
        "csrf": csrf, "name": "alpha", "kind": "external", "sender_address": "news@alpha.example",
        "host": "127.0.0.1", "port": str(sink.port), "security": "none", "login": sink.login,
        "password": sink.password, "hourly_limit": "2", "daily_limit": "100",
    })  # fmt: skip
    assert added.status_code == 303
    page = await c.get("/admin/mailing")
    assert "<b>alpha</b>" in page.text and "0 sent, 2 of 2 left" in page.text
    assert sink.password not in page.text
    sent = await c.post("/admin/mailing/campaign/send", data={"csrf": csrf, "name": "spring"})
    assert sent.headers["location"] == "/admin/mailing/campaign?name=spring"
    deadline = time.monotonic() + 20
    while True:  # the run waits for the relay's next hour
        shown = await c.get(sent.headers["location"])
        # The relay's two sends this hour are reserved before they are made:
        # wait until both have their outcome.
        if "sending resumes at" in shown.text and "1 sent ·\n     1 failed" in shown.text:
            break
        assert time.monotonic() < deadline, shown.text
        await asyncio.sleep(0.1)
    assert re.search(r"<b id=\"waiting\">2</b> waiting", shown.text)
    assert '<meta http-equiv="refresh" content="5">' in shown.text
    assert "250 2.0.0 Ok: queued as SINK" in shown.text
    assert "550 5.1.1 &lt;cid@dest.example&gt;: no such user" in shown.text
    relays = await c.get("/admin/mailing")
    assert "Limit reached: room again in" in relays.text and "2 sent, 0 of 2 left" in relays.text


async def test_a_campaign_page_refreshes_itself_only_while_it_sends(admin):
    c = admin.client
    await admin.ctx.store.web.add_admin_token("tests", "pfat_pages")
    api = {"authorization": "Bearer pfat_pages"}
    await c.post("/api/v1/mailing/lists/few/contacts", content=b"email\nann@dest.example\n",
                 headers={**api, "content-type": "text/csv"})  # fmt: skip
    await c.post("/api/v1/mailing/campaigns", headers=api,
                 json={"name": "quiet", "list": "few", "subject": "S", "text": "T"})  # fmt: skip
    page = await c.get("/admin/mailing/campaign?name=quiet")
    assert page.status_code == 200 and 'http-equiv="refresh"' not in page.text
    assert "Nobody queued yet." in page.text


async def test_bounce_mailboxes_are_added_and_checked(admin):
    c = admin.client
    csrf = await page_csrf(c, "/admin/mailing")
    added = await c.post("/admin/mailing/bounces", data={
        "csrf": csrf, "name": "bounces", "host": "127.0.0.1",
        "port": str(admin.server.port("imap")), "login": "bob@example.org", "password": PASSWORD,
        "security": "none",
    })  # fmt: skip
    assert added.status_code == 303
    page = await c.get("/admin/mailing")
    assert "bob@example.org at 127.0.0.1" in page.text and PASSWORD not in page.text
    checked = await c.post("/admin/mailing/bounces/check", data={"csrf": csrf, "name": "bounces"})
    result = await c.get(checked.headers["location"])
    assert "bounces: 0 read, 0 hard bounce(s)" in result.text
    assert "0 read, 0 hard bounce(s)" in result.text.split('id="bounces"')[1]
