"""One-click unsubscribe (RFC 8058) on the web listener: the link in a message
sent through a real relay, POST marks the contact and later campaigns skip it,
GET changes nothing, unknown tokens get the same answer, no cookie or CSRF
token is asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import make_server
from postfach.mailing.api import Mailing
from postfach.mailing.relays import RelaySettings
from postfach.mailing.tokens import unsubscribe_url
from postfach.web.unsubscribe import DONE
from support.smtpsink import Sink

from .test_web_admin_api import assert_problem
from .webhelpers import client_for, sign_in

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
LINK = re.compile(r"<(https://[^>]+)>")
UNKNOWN = "abcdefghijklmnopqrstuvwx"


@dataclass
class Sent:
    mailing: Mailing
    sink: Sink
    links: dict[str, str]  # recipient -> the https link of its List-Unsubscribe


async def send_campaign(mailing: Mailing, sink: Sink, name: str) -> dict[str, str]:
    before = len(sink.received)
    await mailing.create_campaign(name, "customers", "News", text="Hi {{ email }}")
    report = await mailing.send(name)
    assert report.finished, report.stopped
    links = {}
    for rcpt, message in sink.messages().items():
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        [https] = LINK.findall(message["List-Unsubscribe"])
        links[rcpt] = https
    assert len(sink.received) > before
    return links


@pytest.fixture
async def sent(web):
    sink = await Sink().start()
    mailing = await Mailing.open(web.ctx.store, web.ctx.config, ctx=web.ctx)
    await mailing.add_relay(
        RelaySettings(
            "alpha",
            "external",
            "news@alpha.example",
            host="127.0.0.1",
            port=sink.port,
            security="none",
        )
    )
    await mailing.import_csv("customers", "email\nann@dest.example\nbob@dest.example\n")
    links = await send_campaign(mailing, sink, "spring")
    yield Sent(mailing, sink, links)
    await sink.stop()


async def contact(mailing: Mailing, email: str):
    list_id = await mailing.store.get_list("customers")
    return {c.email: c for c in await mailing.store.list_contacts(list_id)}[email]


def path_of(link: str) -> str:
    parts = urlsplit(link)
    assert parts.scheme == "https" and parts.netloc == "mail.example.org"
    return parts.path


async def test_the_link_in_the_message_is_served_and_get_changes_nothing(web, sent):
    link = sent.links["ann@dest.example"]
    assert re.fullmatch(r"https://mail\.example\.org/unsubscribe/[a-z2-7]{24}", link)
    response = await web.client.get(path_of(link))
    assert response.status_code == 200
    assert '<form method="post">' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert "ann@dest.example" not in response.text
    assert "set-cookie" not in response.headers
    assert response.headers["x-robots-tag"].startswith("noindex")
    for _ in range(3):  # link scanners, previews, prefetchers
        await web.client.get(path_of(link))
        await web.client.head(path_of(link))
    assert not (await contact(sent.mailing, "ann@dest.example")).unsubscribed


async def test_one_click_post_marks_the_contact_and_a_later_campaign_skips_it(web, sent):
    path = path_of(sent.links["ann@dest.example"])
    # As a mail provider's server sends it: no cookies, no CSRF token, no Origin.
    async with client_for(web.ctx) as provider:
        response = await provider.post(path, data=ONE_CLICK)
    assert response.status_code == 200
    assert response.text == DONE and response.headers["content-type"].startswith("text/plain")
    assert "set-cookie" not in response.headers and "location" not in response.headers
    assert (await contact(sent.mailing, "ann@dest.example")).unsubscribed
    assert not (await contact(sent.mailing, "bob@dest.example")).unsubscribed
    again = await web.client.post(path, data=ONE_CLICK)
    assert again.status_code == 200 and again.text == DONE

    sent.sink.received.clear()
    await send_campaign(sent.mailing, sent.sink, "autumn")
    assert [r.rcpt for r in sent.sink.received] == ["bob@dest.example"]


async def test_an_unknown_token_gets_the_same_answer(web, sent):
    known = await web.client.post(path_of(sent.links["bob@dest.example"]), data=ONE_CLICK)
    unknown = await web.client.post(f"/unsubscribe/{UNKNOWN}", data=ONE_CLICK)
    assert (unknown.status_code, unknown.text) == (known.status_code, known.text) == (200, DONE)
    assert unknown.headers["content-type"] == known.headers["content-type"]
    assert (await web.client.get(f"/unsubscribe/{UNKNOWN}")).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "a" * 25,
        "a" * 23,
        "abcdefghijklmnopqrstuvw1",
        "abcdefghijklmnopqrstuvw-",
        "abcdefghijklmnopqrstuvw%C3%A4",
    ],
)
async def test_a_malformed_token_is_a_problem(web, sent, token):
    assert_problem(await web.client.post(f"/unsubscribe/{token}", data=ONE_CLICK), 404)
    page = await web.client.get(f"/unsubscribe/{token}")
    assert page.status_code == 404 and "not valid" in page.text and "<form" not in page.text


async def test_tokens_are_read_case_insensitively(web, sent):
    path = path_of(sent.links["bob@dest.example"])
    head, _, token = path.rpartition("/")
    response = await web.client.post(f"{head}/{token.upper()}", data=ONE_CLICK)
    assert response.status_code == 200
    assert (await contact(sent.mailing, "bob@dest.example")).unsubscribed


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
        (b"list-unsubscribe=one-click", "application/x-www-form-urlencoded"),
        (b'{"List-Unsubscribe": "One-Click"}', "application/json"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    ],
)
async def test_a_post_without_the_one_click_body_changes_nothing(web, sent, content, content_type):
    path = path_of(sent.links["ann@dest.example"])
    response = await web.client.post(path, content=content, headers={"content-type": content_type})
    assert_problem(response, 400)
    assert not (await contact(sent.mailing, "ann@dest.example")).unsubscribed


async def test_multipart_bodies_and_too_large_ones(web, sent):
    path = path_of(sent.links["ann@dest.example"])
    response = await web.client.post(path, data=ONE_CLICK, files={"x": ("a.txt", b"x")})
    assert response.status_code == 400  # no files in a one-click POST
    response = await web.client.post(
        path,
        content=b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 200 and response.text == DONE
    assert (await contact(sent.mailing, "ann@dest.example")).unsubscribed
    big = b"List-Unsubscribe=One-Click&pad=" + b"x" * 10_000
    response = await web.client.post(
        path_of(sent.links["bob@dest.example"]),
        content=big,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 413)
    assert not (await contact(sent.mailing, "bob@dest.example")).unsubscribed


async def test_no_csrf_or_origin_check_blocks_it_and_a_session_changes_nothing(web, sent):
    await sign_in(web.client, "alice@example.org")
    assert web.client.cookies  # a signed-in browser session, without its CSRF token
    path = path_of(sent.links["ann@dest.example"])
    response = await web.client.post(
        path, data=ONE_CLICK, headers={"origin": "https://mail.google.com"}
    )
    assert response.status_code == 200 and response.text == DONE
    assert (await contact(sent.mailing, "ann@dest.example")).unsubscribed
    # the pages' own actions still want their CSRF token
    assert (await web.client.post("/settings", data={"imap_enabled": ""})).status_code == 403


async def test_the_button_on_the_page_unsubscribes_a_browser(web, sent):
    path = path_of(sent.links["bob@dest.example"])
    page = await web.client.get(path)
    assert page.status_code == 200
    response = await web.client.post(
        path,
        data=ONE_CLICK,
        headers={"accept": "text/html,*/*", "origin": "https://mail.example.org"},
    )
    assert response.status_code == 200 and "Unsubscribed" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert (await contact(sent.mailing, "bob@dest.example")).unsubscribed


async def test_any_body_gets_200_or_a_problem(web, sent):
    path = path_of(sent.links["bob@dest.example"])
    collected: list[tuple[bytes, str]] = []

    @settings(max_examples=60, deadline=None)
    @given(
        st.binary(max_size=300) | st.text(max_size=60).map(str.encode),
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=b",
                "multipart/form-data",
                "",
                "text/plain; charset=x",
            ]
        ),
    )
    def bodies(body, content_type):
        collected.append((body, content_type))

    bodies()
    for body, content_type in collected:
        response = await web.client.post(path, content=body, headers={"content-type": content_type})
        assert response.status_code in (200, 400), (body, content_type, response.text)


async def test_a_configured_base_with_a_path_is_served_exactly(tmp_path):
    base = "https://news.example.net/letters/"
    async with make_server(tmp_path, mailing={"unsubscribe_url": base}) as running:
        mailing = await Mailing.open(running.ctx.store, running.ctx.config, ctx=running.ctx)
        await mailing.add_relay(RelaySettings("local", "internal", "news@example.org"))
        await mailing.import_csv("customers", "email\nann@dest.example\n")
        await mailing.create_campaign("spring", "customers", "News", text="Hi")
        await mailing.queue("spring")
        campaign = await mailing.campaign("spring")
        [row] = await mailing.store.recipients(campaign.id)
        link = unsubscribe_url(mailing.unsubscribe_base(), row.token)
        assert link == f"https://news.example.net/letters/unsubscribe/{row.token}"
        async with client_for(running.ctx) as client:
            assert (await client.get(urlsplit(link).path)).status_code == 200
            response = await client.post(urlsplit(link).path, data=ONE_CLICK)
            assert response.status_code == 200
            assert (await client.post(f"/unsubscribe/{row.token}", data=ONE_CLICK)).text == DONE
        assert (await contact(mailing, "ann@dest.example")).unsubscribed


async def test_the_listener_serves_it_over_a_real_socket(server):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port('http')}") as client:
        response = await client.post(f"/unsubscribe/{UNKNOWN}", data=ONE_CLICK)
        assert response.status_code == 200 and response.text == DONE
