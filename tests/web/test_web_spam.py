"""The spam filter's settings on the web page and in the admin API, and the
webmail's move into and out of Spam teaching the classifier."""

from __future__ import annotations

import pytest

from postfach.store.records import AccountId

from .webhelpers import make_message, page_csrf, put, sign_in


@pytest.fixture
async def api(web):
    token = "pfat_" + "s" * 40
    await web.ctx.store.web.add_admin_token("spam-tests", token)
    web.client.headers["authorization"] = f"Bearer {token}"
    return web


async def test_settings_page_sets_thresholds_and_lists(web):
    await sign_in(web.client, "alice@example.org")
    csrf = await page_csrf(web.client, "/spam")
    saved = await web.client.post(
        "/spam", data={"csrf": csrf, "file_threshold": "3.5", "reject_threshold": ""}
    )
    assert saved.status_code == 200 and 'value="3.5"' in saved.text
    bad = await web.client.post("/spam", data={"csrf": csrf, "file_threshold": "lots"})
    assert bad.status_code == 422
    added = await web.client.post(
        "/spam/senders", data={"csrf": csrf, "entry": "Friend@Example.NET", "kind": "allow"}
    )
    assert added.status_code == 303
    await web.client.post(
        "/spam/senders", data={"csrf": csrf, "entry": "ads.test", "kind": "block"}
    )
    refused = await web.client.post(
        "/spam/senders", data={"csrf": csrf, "entry": "not a sender", "kind": "block"}
    )
    assert refused.status_code == 422
    settings = await web.ctx.store.spam.settings(web.alice.id)
    assert (settings.file_threshold, settings.reject_threshold) == (3.5, None)
    assert settings.allow == {"friend@example.net"} and settings.block == {"ads.test"}
    page = await web.client.get("/spam")
    assert "friend@example.net" in page.text and "ads.test" in page.text
    await web.client.post("/spam/senders/remove", data={"csrf": csrf, "entry": "ads.test"})
    assert (await web.ctx.store.spam.settings(web.alice.id)).block == frozenset()
    # Bob's settings are his own.
    assert (await web.ctx.store.spam.settings(web.bob.id)).allow == frozenset()


async def test_admin_api_spam_settings(api):
    base = "/api/v1/accounts/alice@example.org/spam"
    assert (await api.client.get(base)).json() == {
        "file_threshold": None, "reject_threshold": None, "allow": [], "block": [],
    }  # fmt: skip
    changed = await api.client.patch(base, json={"file_threshold": 4, "reject_threshold": 9.5})
    assert changed.status_code == 200
    assert changed.json()["file_threshold"] == 4.0
    assert (await api.client.patch(base, json={"file_threshold": "x"})).status_code == 422
    assert (await api.client.patch(base, json={"colour": 1})).status_code == 422
    listed = await api.client.put(base + "/senders/spammer.test", json={"kind": "block"})
    assert listed.json()["block"] == ["spammer.test"]
    assert (await api.client.put(base + "/senders/x", json={"kind": "block"})).status_code == 422
    assert (await api.client.put(base + "/senders/a.test", json={"kind": "?"})).status_code == 422
    assert (await api.client.delete(base + "/senders/spammer.test")).status_code == 204
    assert (await api.client.delete(base + "/senders/spammer.test")).status_code == 404
    reset = await api.client.patch(base, json={"file_threshold": None})
    assert reset.json()["file_threshold"] is None and reset.json()["reject_threshold"] == 9.5
    missing = "/api/v1/accounts/nobody@example.org/spam"
    assert (await api.client.get(missing)).status_code == 404


async def test_webmail_move_into_and_out_of_spam_teaches(web):
    ctx = web.ctx
    await sign_in(web.client, "alice@example.org")
    csrf = await page_csrf(web.client, "/mail")
    pills = await put(ctx, web.alice, "INBOX", make_message("cheap pills", "discount pharmacy"))
    moved = await web.client.post(
        "/mail/move", data={"csrf": csrf, "box": "INBOX", "target": "Spam", "uid": str(pills)}
    )
    assert moved.status_code == 303
    news = await put(ctx, web.alice, "Spam", make_message("club news", "workshop release"))
    await web.client.post(
        "/mail/move", data={"csrf": csrf, "box": "Spam", "target": "INBOX", "uid": str(news)}
    )
    counts = await ctx.store.spam.token_counts([AccountId(web.alice.id)], ["pharmacy", "workshop"])
    assert (counts.learnt_spam, counts.learnt_ham) == (1, 1)
    assert counts.tokens == {"pharmacy": (1, 0), "workshop": (0, 1)}
