"""The mailing engine through the admin API (issue 6 §7): relays, lists,
campaigns, status and bounce mailboxes over the ASGI client, a send through a
real aiosmtpd relay on loopback, problem details for every error, and relay
and mailbox passwords that never come back."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import httpx
import pytest

from postfach.mailing.api import Mailing
from postfach.mailing.tokens import message_id, return_path
from postfach.web.app import build_app
from postfach.web.mailing_campaigns import stop_runs
from support.imap import imap_append
from support.smtpsink import Sink

from .test_web_admin_api import PROBLEM, assert_problem
from .webhelpers import BASE_URL

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

M = "/api/v1/mailing"
RELAY_PASSWORD = "relay-Secret-3141"
BOX_PASSWORD = "box-Secret-2718"
CSV = (
    "email,name,city\n"
    "ann@dest.example,Ann,Berlin\n"
    "not an address,Bob,Bonn\n"
    "cid@dest.example,Cid,Köln\n"
    ",Nobody,Nowhere\n"
    "dora@dest.example,Dora,Dresden\n"
    "ANN@dest.example,,Hamburg\n"
)


@pytest.fixture
async def api(web):
    await web.ctx.store.web.add_admin_token("tests", "pfat_mailing")
    web.client.headers["authorization"] = "Bearer pfat_mailing"
    return web


@pytest.fixture
async def sink():
    started = await Sink(login="relay-user", password=RELAY_PASSWORD).start()
    yield started
    await started.stop()


def relay_body(sink: Sink, name: str = "alpha", **overrides) -> dict:
    body = {
        "name": name,
        "sender_address": f"news@{name}.example",
        "sender_name": "Alpha News",
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "login": sink.login,
        "password": sink.password,
        "concurrency": 1,
    }
    body.update(overrides)
    return body


async def import_csv(client, name: str = "customers", text: str = CSV, **headers):
    return await client.post(
        f"{M}/lists/{name}/contacts",
        content=text.encode("utf-8"),
        headers={"content-type": "text/csv; charset=utf-8", **headers},
    )


async def wait_for_run(client, campaign: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = (await client.get(f"{M}/campaigns/{campaign}?limit=1000")).json()
        if shown["run"] is not None and not shown["run"]["running"]:
            return shown
        assert time.monotonic() < deadline, f"the run did not end: {shown['run']}"
        await asyncio.sleep(0.05)


# -- relays -----------------------------------------------------------------------


async def test_relays_add_list_show_update_remove(api, sink, caplog):
    caplog.set_level(logging.DEBUG)
    c = api.client
    seen = []
    response = await c.post(f"{M}/relays", json=relay_body(sink, hourly_limit=5))
    seen.append(response)
    assert response.status_code == 201, response.text
    relay = response.json()
    assert relay["name"] == "alpha" and relay["port"] == sink.port
    assert relay["password_set"] is True and "password" not in relay
    assert relay["position"] == 1 and relay["hourly_limit"] == 5 and relay["enabled"]
    internal = {"name": "local", "kind": "internal", "sender_address": "news@example.org"}
    seen.append(await c.post(f"{M}/relays", json=internal))
    assert seen[-1].status_code == 201 and seen[-1].json()["position"] == 2
    assert seen[-1].json()["password_set"] is False

    seen.append(await c.get(f"{M}/relays"))
    assert [r["name"] for r in seen[-1].json()] == ["alpha", "local"]
    seen.append(await c.get(f"{M}/relays/alpha"))
    assert seen[-1].json() == relay

    seen.append(
        await c.patch(
            f"{M}/relays/alpha",
            json={"daily_limit": 9, "position": 3, "password": RELAY_PASSWORD + "x"},
        )
    )
    assert seen[-1].status_code == 200
    assert seen[-1].json()["daily_limit"] == 9 and seen[-1].json()["position"] == 3
    assert seen[-1].json()["hourly_limit"] == 5  # untouched
    seen.append(await c.get(f"{M}/relays"))
    assert [r["name"] for r in seen[-1].json()] == ["local", "alpha"]
    seen.append(await c.patch(f"{M}/relays/alpha", json={}))
    assert seen[-1].status_code == 200

    assert (await c.delete(f"{M}/relays/local")).status_code == 204
    assert_problem(await c.delete(f"{M}/relays/local"), 404)
    assert_problem(await c.get(f"{M}/relays/local"), 404)
    assert_problem(await c.patch(f"{M}/relays/local", json={"enabled": False}), 404)
    assert_problem(await c.post(f"{M}/relays/local/test"), 404)
    for response in seen:
        assert RELAY_PASSWORD not in response.text
    assert RELAY_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"name": "beta"}, 422),  # no sender address
        ({"name": "beta", "sender_address": "not-an-address", "host": "h"}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "security": "rot13"}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "port": 25}, 422),
        ({"name": "beta", "sender_address": "a@b.example"}, 422),  # external without a host
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "port": "587"}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "port": 70000}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "hourly_limit": -1}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "concurrency": 0}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "enabled": 1}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "kind": "x"}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "password_enc": "x"}, 422),
        ({"name": "a/b", "sender_address": "a@b.example", "host": "h"}, 422),
        ({"name": " beta", "sender_address": "a@b.example", "host": "h"}, 422),
        ({"name": "", "sender_address": "a@b.example", "host": "h"}, 422),
        ({"name": "b" * 101, "sender_address": "a@b.example", "host": "h"}, 422),
        ({"name": "beta", "sender_address": "a@b.example", "host": "h", "port": 2**40}, 422),
        ({"name": "alpha", "sender_address": "a@b.example", "host": "h"}, 409),
    ],
)
async def test_bad_relays_are_problems(api, sink, body, status):
    await api.client.post(f"{M}/relays", json=relay_body(sink))
    body = {**body, "password": RELAY_PASSWORD} if "name" in body else body
    response = await api.client.post(f"{M}/relays", json=body)
    problem = assert_problem(response, status)
    assert RELAY_PASSWORD not in response.text
    assert problem["detail"]


async def test_bad_relay_updates_are_problems(api, sink):
    c = api.client
    await c.post(f"{M}/relays", json=relay_body(sink))
    for bad in (
        {"port": 25},
        {"security": "x"},
        {"name": "other"},
        {"hourly_limit": "3"},
        {"sender_address": "nope"},
        {"host": ""},
        {"password": 5},
    ):
        response = await c.patch(f"{M}/relays/alpha", json=bad)
        assert_problem(response, 422)
    assert_problem(await c.patch(f"{M}/relays/alpha", content=b"{oops"), 400)
    assert_problem(await c.patch(f"{M}/relays/alpha", json=[1]), 422)
    assert (await c.get(f"{M}/relays/alpha")).json()["port"] == sink.port


async def test_relay_test_reports_in_plain_words_without_the_password(api, sink):
    c = api.client
    await c.post(f"{M}/relays", json=relay_body(sink))
    response = await c.post(f"{M}/relays/alpha/test")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert "relay-user" in response.json()["message"] and "works" in response.json()["message"]
    assert sink.logins == [("relay-user", RELAY_PASSWORD)]

    await c.patch(f"{M}/relays/alpha", json={"password": "wrong-" + RELAY_PASSWORD})
    response = await c.post(f"{M}/relays/alpha/test")
    assert response.status_code == 200 and response.json()["ok"] is False
    assert RELAY_PASSWORD not in response.text and response.json()["message"]

    await sink.stop()
    response = await c.post(f"{M}/relays/alpha/test")
    assert response.json()["ok"] is False and "connect" in response.json()["message"]

    internal = {"name": "local", "kind": "internal", "sender_address": "news@example.org"}
    await c.post(f"{M}/relays", json=internal)
    response = await c.post(f"{M}/relays/local/test")
    assert response.json()["ok"] is True and "this postfach" in response.json()["message"]


# -- lists ------------------------------------------------------------------------


async def test_csv_import_reports_invalid_rows_by_line(api):
    c = api.client
    response = await import_csv(c)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["list"] == "customers"
    assert report["added"] == 3 and report["merged"] == 1
    assert report["columns"] == ["email", "name", "city"]
    assert [row["line"] for row in report["invalid_rows"]] == [3, 5]
    assert "not an address" in report["invalid_rows"][0]["reason"]
    assert (await c.get(f"{M}/lists")).json() == [{"name": "customers", "contacts": 3}]

    # the same file again merges everything, adds nothing
    again = (await import_csv(c)).json()
    assert again["added"] == 0 and again["merged"] == 4


async def test_csv_import_content_types_and_charsets(api):
    c = api.client
    latin = "email;name\nm@dest.example;Müller\n".encode("latin-1")
    response = await c.post(
        f"{M}/lists/latin/contacts",
        content=latin,
        headers={"content-type": "text/csv; charset=ISO-8859-1"},
    )
    assert response.status_code == 200 and response.json()["added"] == 1
    page = (await c.get(f"{M}/lists/latin/contacts")).json()
    assert page["contacts"][0]["fields"] == {"name": "Müller"}
    for content_type in ("application/json", "", "text/plain"):
        response = await c.post(
            f"{M}/lists/x/contacts",
            content=b"email\na@b.example\n",
            headers={"content-type": content_type},
        )
        assert_problem(response, 415)
    response = await c.post(
        f"{M}/lists/x/contacts",
        content=b"email\n",
        headers={"content-type": "text/csv; charset=nope"},
    )
    assert_problem(response, 415)
    assert_problem(await import_csv(c, name="bad name "), 422)
    empty = (await import_csv(c, name="empty", text="")).json()
    assert empty["added"] == 0 and empty["invalid_rows"] == [
        {"line": 1, "reason": "the file is empty"}
    ]
    assert [x["name"] for x in (await c.get(f"{M}/lists")).json()] == ["empty", "latin"]


async def test_contacts_are_paged(api):
    c = api.client
    rows = "".join(f"user{i:02}@dest.example,User {i}\n" for i in range(25))
    await import_csv(c, name="big", text="email,name\n" + rows)
    page = (await c.get(f"{M}/lists/big/contacts?offset=10&limit=5")).json()
    assert page["total"] == 25 and page["offset"] == 10 and page["limit"] == 5
    assert [x["email"] for x in page["contacts"]] == [
        f"user{i}@dest.example" for i in range(10, 15)
    ]
    assert page["contacts"][0] == {
        "email": "user10@dest.example",
        "fields": {"name": "User 10"},
        "unsubscribed": False,
        "bounced": False,
        "soft_bounces": 0,
    }
    default = (await c.get(f"{M}/lists/big/contacts")).json()
    assert default["limit"] == 50 and len(default["contacts"]) == 25
    assert (await c.get(f"{M}/lists/big/contacts?offset=30")).json()["contacts"] == []
    for query in ("limit=0", "limit=1001", "offset=-1", "offset=x", "limit=", "limit=１"):
        assert_problem(await c.get(f"{M}/lists/big/contacts?{query}"), 422)
    assert_problem(await c.get(f"{M}/lists/nothing/contacts"), 404)


# -- campaigns --------------------------------------------------------------------


async def test_campaigns_create_list_show(api):
    c = api.client
    await import_csv(c)
    pdf = b"%PDF-1.4 tiny"
    body = {
        "name": "spring",
        "list": "customers",
        "subject": "News for {{ name }}",
        "text": "Hello {{ name }} from {{ city }}",
        "html": "<p>Hello {{ name }}</p>",
        "from_name": "Shop",
        "from_address": "shop@shop.example",
        "attachments": [
            {"filename": "offer.pdf", "data": base64.b64encode(pdf).decode()},
            {
                "filename": "a.bin",
                "content_type": "text/x-thing",
                "data": base64.b64encode(b"xyz").decode(),
            },
        ],
    }
    response = await c.post(f"{M}/campaigns", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "draft" and response.json()["list"] == "customers"
    assert_problem(await c.post(f"{M}/campaigns", json=body), 409)
    await c.post(
        f"{M}/campaigns", json={"name": "bare", "list": "customers", "subject": "Hi", "text": "x"}
    )
    listed = (await c.get(f"{M}/campaigns")).json()
    assert [x["name"] for x in listed] == ["spring", "bare"]
    assert listed[0]["counts"] == {} and listed[0]["subject"] == "News for {{ name }}"
    shown = (await c.get(f"{M}/campaigns/spring")).json()
    assert shown["text"] == body["text"] and shown["html"] == body["html"]
    assert shown["attachments"] == [
        {"filename": "offer.pdf", "content_type": "application/pdf", "size": len(pdf)},
        {"filename": "a.bin", "content_type": "text/x-thing", "size": 3},
    ]
    assert shown["run"] is None
    assert shown["recipients"] == {"total": 0, "offset": 0, "limit": 50, "items": []}
    assert_problem(await c.get(f"{M}/campaigns/autumn"), 404)
    assert_problem(await c.post(f"{M}/campaigns/autumn/send"), 404)
    assert_problem(await c.get(f"{M}/campaigns/spring?limit=0"), 422)


@pytest.mark.parametrize(
    "change",
    [
        {"list": "nowhere"},
        {"subject": "{{ unclosed"},
        {"html": "{% if %}"},
        {"text": "", "html": ""},
        {"subject": 5},
        {"from_address": "not an address"},
        {"attachments": [{"filename": "x.txt", "data": "***not base64***"}]},
        {"attachments": [{"filename": "../x.txt", "data": ""}]},
        {"attachments": [{"filename": "x.txt", "content_type": "bogus", "data": ""}]},
        {"attachments": ["x"]},
        {"attachments": {"filename": "x"}},
        {"name": "a/b"},
        {"state": "done"},
    ],
)
async def test_bad_campaigns_are_problems(api, change):
    await import_csv(api.client)
    body = {"name": "spring", "list": "customers", "subject": "Hi", "text": "Hello"}
    response = await api.client.post(f"{M}/campaigns", json={**body, **change})
    assert_problem(response, 422)
    assert (await api.client.get(f"{M}/campaigns")).json() == []


async def test_send_through_a_real_relay_and_follow_the_outcomes(api, sink):
    c = api.client
    sink.replies["cid@dest.example"] = "550 5.1.1 <cid@dest.example>: no such user"
    await c.post(f"{M}/relays", json=relay_body(sink, hourly_limit=10, daily_limit=100))
    await import_csv(c)
    await c.post(
        f"{M}/campaigns",
        json={
            "name": "spring",
            "list": "customers",
            "subject": "News for {{ name }}",
            "text": "Hi {{ name }}",
        },
    )
    response = await c.post(f"{M}/campaigns/spring/send")
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent == {
        "campaign": "spring",
        "queued": 3,
        "started": True,
        "status_url": f"{M}/campaigns/spring",
    }
    assert response.headers["location"] == f"{M}/campaigns/spring"
    shown = await wait_for_run(c, "spring")
    assert shown["state"] == "done", shown["run"]  # a deferral would show in the run
    assert shown["run"]["sent"] == 2 and shown["run"]["failed"] == 1 and shown["run"]["finished"]
    assert shown["counts"] == {"sent": 2, "failed": 1}
    outcomes = {r["email"]: r for r in shown["recipients"]["items"]}
    assert outcomes["ann@dest.example"]["state"] == "sent"
    assert outcomes["ann@dest.example"]["relay"] == "alpha"
    assert outcomes["ann@dest.example"]["reply"].startswith("250 2.0.0 Ok: queued as SINK")
    assert outcomes["cid@dest.example"]["state"] == "failed"
    assert outcomes["cid@dest.example"]["reply"].startswith("550 5.1.1")
    assert "token" not in outcomes["ann@dest.example"]
    page = (await c.get(f"{M}/campaigns/spring?offset=1&limit=1")).json()["recipients"]
    assert page["total"] == 3 and [r["email"] for r in page["items"]] == ["cid@dest.example"]

    messages = sink.messages()
    assert sorted(messages) == ["ann@dest.example", "dora@dest.example"]
    assert messages["ann@dest.example"]["Subject"] == "News for Ann"
    assert messages["ann@dest.example"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    [status] = (await c.get(f"{M}/status")).json()
    assert status["relay"] == "alpha" and status["enabled"] is True
    assert status["sent_hour"] == status["sent_day"] >= 2
    assert status["remaining_hour"] == 10 - status["sent_hour"]
    assert status["remaining_day"] == 100 - status["sent_day"]
    assert status["next_window"] is None

    # sending again queues nobody new; the run ends at once
    again = await c.post(f"{M}/campaigns/spring/send")
    assert again.status_code == 202 and again.json()["queued"] == 0
    assert (await wait_for_run(c, "spring"))["run"]["sent"] == 0
    for response in (await c.get(f"{M}/relays"), await c.get(f"{M}/status")):
        assert RELAY_PASSWORD not in response.text


async def test_the_internal_relay_delivers_to_local_mailboxes(api):
    c = api.client
    internal = {"name": "local", "kind": "internal", "sender_address": "news@example.org"}
    await c.post(f"{M}/relays", json=internal)
    await import_csv(c, text="email\nalice@example.org\nbob@example.org\n")
    await c.post(
        f"{M}/campaigns",
        json={"name": "inside", "list": "customers", "subject": "Inside", "text": "Hello"},
    )
    assert (await c.post(f"{M}/campaigns/inside/send")).status_code == 202
    shown = await wait_for_run(c, "inside")
    assert shown["counts"] == {"sent": 2}
    assert {r["relay"] for r in shown["recipients"]["items"]} == {"local"}
    inbox = await api.ctx.store.mailboxes.get_mailbox(api.alice.id, "INBOX")
    assert len(await api.ctx.store.mail.message_index(inbox.id)) == 1


async def test_a_second_send_while_running_starts_no_second_run(api):
    """A relay that accepts the connection and never greets keeps the run busy;
    a second send queues nothing and starts nothing; stopping ends the run."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    app = build_app(api.ctx)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=dict(api.client.headers)
    ) as c:
        await c.post(
            f"{M}/relays",
            json={
                "name": "mute",
                "sender_address": "n@mute.example",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
            },
        )
        await import_csv(c)
        await c.post(
            f"{M}/campaigns",
            json={"name": "slow", "list": "customers", "subject": "S", "text": "T"},
        )
        first = await c.post(f"{M}/campaigns/slow/send")
        second = await c.post(f"{M}/campaigns/slow/send")
        assert first.json()["started"] is True and first.json()["queued"] == 3
        assert second.status_code == 202
        assert second.json()["started"] is False and second.json()["queued"] == 0
        shown = (await c.get(f"{M}/campaigns/slow")).json()
        assert shown["run"]["running"] is True and shown["state"] == "sending"
        await asyncio.wait_for(stop_runs(app), 10)
        shown = (await c.get(f"{M}/campaigns/slow")).json()
        assert shown["run"]["running"] is False and "sent" not in shown["run"]
    silent.close()


async def test_status_without_relays_and_a_run_with_no_relay(api):
    c = api.client
    assert (await c.get(f"{M}/status")).json() == []
    await import_csv(c)
    await c.post(
        f"{M}/campaigns", json={"name": "x", "list": "customers", "subject": "S", "text": "T"}
    )
    assert (await c.post(f"{M}/campaigns/x/send")).status_code == 202
    shown = await wait_for_run(c, "x")
    assert shown["run"]["finished"] is False and "no relay" in shown["run"]["stopped"]
    assert shown["counts"] == {"queued": 3} and shown["state"] == "sending"


# -- bounce mailboxes -------------------------------------------------------------

DSN = """\
From: MAILER-DAEMON@mx.relay.example (Mail Delivery System)
To: {verp}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

The message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: User unknown

--B
Content-Type: text/rfc822-headers

From: Alpha News <news@alpha.example>
To: {rcpt}
Subject: News
Message-ID: {msgid}

--B--
"""


async def test_bounce_mailboxes_add_list_check_remove(api, sink, caplog):
    caplog.set_level(logging.DEBUG)
    c = api.client
    port = api.server.port("imap")
    await api.server.add_user("bounces@example.org", BOX_PASSWORD)
    await c.post(f"{M}/relays", json=relay_body(sink))
    await import_csv(c)
    await c.post(
        f"{M}/campaigns",
        json={"name": "spring", "list": "customers", "subject": "News", "text": "Hi"},
    )
    await c.post(f"{M}/campaigns/spring/send")
    await wait_for_run(c, "spring")

    mailing = await Mailing.open(api.ctx.store, api.ctx.config)
    campaign = await mailing.campaign("spring")
    rows = {r.email: r for r in await mailing.store.recipients(campaign.id)}
    dora = rows["dora@dest.example"]
    dsn = DSN.format(
        verp=return_path("news@alpha.example", campaign.id, dora.token),
        rcpt=dora.email,
        msgid=message_id("news@alpha.example", campaign.id, dora.token),
    )
    raw = dsn.replace("\n", "\r\n").encode()
    await asyncio.to_thread(imap_append, port, "bounces@example.org", BOX_PASSWORD, raw)

    body = {
        "name": "main",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "login": "bounces@example.org",
        "password": BOX_PASSWORD,
        "relay": "alpha",
    }
    responses = [await c.post(f"{M}/bounces", json=body)]
    assert responses[0].status_code == 201, responses[0].text
    box = responses[0].json()
    assert box["name"] == "main" and box["relay"] == "alpha" and box["password_set"] is True
    assert box["folder"] == "INBOX" and box["done_folder"] == "Processed"
    assert box["last_check"] == 0 and box["last_result"] == ""
    responses.append(await c.post(f"{M}/bounces", json=body))
    assert_problem(responses[-1], 409)
    for bad in (
        {"password": None},
        {"relay": "nowhere"},
        {"security": "x"},
        {"port": 0},
        {"name": "x/y"},
        {"extra": 1},
        {"host": 7},
    ):
        responses.append(await c.post(f"{M}/bounces", json={**body, "name": "b2", **bad}))
        assert_problem(responses[-1], 422)

    responses.append(await c.post(f"{M}/bounces/main/check"))
    [result] = responses[-1].json()
    assert result["ok"] is True and result["read"] == 1
    assert result["hard"] == ["dora@dest.example"] and result["soft"] == []
    page = (await c.get(f"{M}/lists/customers/contacts")).json()["contacts"]
    assert {x["email"] for x in page if x["bounced"]} == {"dora@dest.example"}
    shown = (await c.get(f"{M}/campaigns/spring")).json()
    assert {r["email"]: r["state"] for r in shown["recipients"]["items"]}[
        "dora@dest.example"
    ] == "bounced"
    responses.append(await c.get(f"{M}/bounces"))
    [listed] = responses[-1].json()
    assert listed["last_check"] > 0 and "1 hard bounce" in listed["last_result"]

    # a second mailbox with a wrong password: its error, not the password
    wrong = {**body, "name": "wrong", "password": "nope-" + BOX_PASSWORD}
    responses.append(await c.post(f"{M}/bounces", json=wrong))
    responses.append(await c.post(f"{M}/bounces/check"))
    results = {r["name"]: r for r in responses[-1].json()}
    assert results["main"]["ok"] is True and results["main"]["read"] == 0
    assert results["wrong"]["ok"] is False and "refused the login" in results["wrong"]["error"]

    assert (await c.delete(f"{M}/bounces/wrong")).status_code == 204
    assert_problem(await c.delete(f"{M}/bounces/wrong"), 404)
    assert_problem(await c.post(f"{M}/bounces/wrong/check"), 404)
    for response in responses:
        assert BOX_PASSWORD not in response.text, response.text
    assert BOX_PASSWORD not in caplog.text

    # a later campaign leaves the bounced contact out
    await c.post(
        f"{M}/campaigns",
        json={"name": "autumn", "list": "customers", "subject": "Autumn", "text": "Hi"},
    )
    assert (await c.post(f"{M}/campaigns/autumn/send")).json()["queued"] == 2
    await wait_for_run(c, "autumn")


async def test_mailing_bodies_survive_anything(api, sink):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    await api.client.post(f"{M}/relays", json=relay_body(sink))
    await import_csv(api.client)
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )
    keys = st.sampled_from(
        [
            "name",
            "port",
            "host",
            "sender_address",
            "list",
            "subject",
            "attachments",
            "password",
            "security",
            "login",
            "position",
        ]
    )

    @settings(max_examples=30, deadline=None)
    @given(st.dictionaries(keys, values, max_size=5) | values)
    def bodies(body):
        collected.append(body)

    collected: list[object] = []
    bodies()
    for body in collected:
        for method, path in (
            ("POST", f"{M}/relays"),
            ("PATCH", f"{M}/relays/alpha"),
            ("POST", f"{M}/campaigns"),
            ("POST", f"{M}/bounces"),
        ):
            response = await api.client.request(method, path, json=body)
            assert response.status_code in (200, 201, 409, 422), (path, body, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == PROBLEM
