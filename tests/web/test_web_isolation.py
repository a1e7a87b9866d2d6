"""One account can reach nothing of another's through any page or API call."""

from __future__ import annotations

from postfach.auth.passwords import hash_password_async

from .webhelpers import csrf_of, make_message, put, sign_in

SECRET = "zanzibar-secret"
PAGES = (
    "/mail", "/mail?box=INBOX", "/mail?box=Secret", "/mail?box=Trash", "/settings",
    "/app-passwords", "/password", f"/mail/search?q={SECRET}", "/mail/search?q=alice",
    "/settings/apple.mobileconfig", "/rules", "/rules/script",
)  # fmt: skip


async def alice_has_mail(web) -> list[int]:
    await web.ctx.store.mailboxes.create_mailbox(web.alice.id, "Secret")
    uids = [
        await put(web.ctx, web.alice, "INBOX", make_message(f"{SECRET} {n}", SECRET,
                  attachment=("secret.txt", SECRET.encode(), "text/plain")))
        for n in range(3)
    ]  # fmt: skip
    await put(web.ctx, web.alice, "Secret", make_message(SECRET, SECRET))
    await put(web.ctx, web.alice, "Trash", make_message(SECRET, SECRET))
    await web.ctx.store.accounts.add_app_password(
        web.alice.id, "alices-phone", await hash_password_async("x")
    )
    script = f'if header :contains "subject" "{SECRET}" {{ discard; }}\n'
    await web.ctx.store.sieve.put_script(web.alice.id, "alices-rules", script)
    await web.ctx.store.sieve.set_active(web.alice.id, "alices-rules")
    return uids


async def alice_state(web) -> dict:
    store = web.ctx.store
    boxes = await store.mailboxes.list_mailboxes(web.alice.id)
    return {
        "account": await store.accounts.get_account("alice@example.org"),
        "apps": [p.name for p in await store.accounts.list_app_passwords(web.alice.id)],
        "mail": {b.name: await store.mail.message_index(b.id) for b in boxes},
        "sieve": await store.sieve.active_script(web.alice.id),
        "scripts": await store.sieve.list_scripts(web.alice.id),
    }


async def test_no_page_shows_another_accounts_mail(web):
    uids = await alice_has_mail(web)
    before = await alice_state(web)
    await sign_in(web.client, "bob@example.org")
    for path in PAGES:
        response = await web.client.get(path)
        # The search page repeats the query itself; nothing else may match.
        text = response.text.replace(f'value="{SECRET}"', "").replace(f"“{SECRET}”", "")
        assert SECRET not in text, path
        assert "alices-phone" not in response.text, path
        assert "alice@example.org" not in response.text, path
    assert "Nothing found." in (await web.client.get(f"/mail/search?q={SECRET}")).text
    for uid in [*uids, 4, 5]:
        for path in (
            f"/mail/message?box=INBOX&uid={uid}",
            f"/mail/part?box=INBOX&uid={uid}&part=2",
            "/mail/message?box=Secret&uid=1",
            f"/mail/message?box=Trash&uid={uid}",
        ):
            response = await web.client.get(path)
            assert response.status_code == 404, path
            assert SECRET not in response.text
    assert await alice_state(web) == before


async def test_no_action_changes_another_accounts_data(web):
    uids = await alice_has_mail(web)
    before = await alice_state(web)
    await sign_in(web.client, "bob@example.org")
    token = csrf_of((await web.client.get("/mail")).text)
    posts = [
        ("/mail/move", {"box": "INBOX", "target": "Trash", "uid": uids}),
        ("/mail/move", {"box": "Secret", "target": "INBOX", "uid": [1]}),
        ("/mail/move", {"box": "INBOX", "target": "Secret", "uid": uids}),
        ("/mail/delete", {"box": "INBOX", "uid": uids}),
        ("/mail/delete", {"box": "Trash", "uid": [1, 2, 3]}),
        ("/app-passwords/revoke", {"name": "alices-phone"}),
        ("/settings", {"imap_enabled": "", "pop3_folders": ["Secret"]}),
        ("/password", {"current": "x", "new": "y" * 10, "repeat": "y" * 10}),
        ("/rules", {"field": "from", "contains": "x", "action": "read"}),
        ("/rules/remove", {"index": "0"}),
        ("/rules/vacation", {"enabled": "on", "subject": "x", "text": "y", "days": "7"}),
        ("/rules/use", {}),
        ("/rules/script", {"script": "keep;"}),
    ]
    for path, data in posts:
        response = await web.client.post(path, data={"csrf": token, **data})
        assert response.status_code in (200, 303, 404, 422), (path, response.status_code)
        assert SECRET not in response.text
    assert await alice_state(web) == before


async def test_one_sessions_csrf_token_is_no_good_for_another(web):
    alice_client = web.new_client()
    async with alice_client:
        await sign_in(alice_client, "alice@example.org")
        alice_token = csrf_of((await alice_client.get("/settings")).text)
        await sign_in(web.client, "bob@example.org")
        response = await web.client.post("/settings", data={"csrf": alice_token})
        assert response.status_code == 403
        response = await alice_client.post("/logout-everywhere", data={"csrf": "wrong"})
        assert response.status_code == 403


async def test_bob_logging_out_everywhere_leaves_alice_signed_in(web):
    alice_client = web.new_client()
    async with alice_client:
        await sign_in(alice_client, "alice@example.org")
        await sign_in(web.client, "bob@example.org")
        token = csrf_of((await web.client.get("/password")).text)
        await web.client.post("/logout-everywhere", data={"csrf": token})
        assert (await alice_client.get("/mail")).status_code == 200
        assert (await web.client.get("/mail")).status_code == 303


async def test_user_sessions_cannot_use_the_admin_api(web):
    await sign_in(web.client, "bob@example.org")
    for method, path in (("GET", "/api/v1/accounts"),
                         ("GET", "/api/v1/accounts/alice@example.org"),
                         ("GET", "/api/v1/accounts/alice@example.org/app-passwords"),
                         ("POST", "/api/v1/accounts/alice@example.org/logout"),
                         ("DELETE", "/api/v1/accounts/alice@example.org")):  # fmt: skip
        response = await web.client.request(method, path)
        assert response.status_code == 401, path
    assert await web.ctx.store.accounts.get_account("alice@example.org") is not None


async def test_every_mailing_endpoint_wants_an_admin_token(web):
    """No mailing call works without an admin token: not anonymously, not with a
    user's web session, not with a wrong token; and nothing changes."""
    from postfach.mailing.api import Mailing
    from postfach.mailing.relays import RelaySettings
    from postfach.web import mailing_api, mailing_campaigns

    mailing = await Mailing.open(web.ctx.store, web.ctx.config, ctx=web.ctx)
    await mailing.add_relay(RelaySettings("x", "internal", "news@example.org", password="pw-x"))
    await mailing.import_csv("x", "email\nann@dest.example\n")
    await mailing.create_campaign("x", "x", "Subject", text="Hi")
    before = (await mailing.list_relays(), await mailing.store.list_lists(),
              await mailing.store.counts((await mailing.campaign("x")).id))  # fmt: skip
    routes = [*mailing_api.routes(), *mailing_campaigns.routes()]
    calls = [
        (method, route.path.replace("{name}", "x"))
        for route in routes
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]
    assert len(calls) >= 19
    anonymous = web.new_client()
    wrong = web.new_client()
    wrong.headers["authorization"] = "Bearer pfat_" + "0" * 40
    await sign_in(web.client, "bob@example.org")
    async with anonymous, wrong:
        for client in (anonymous, wrong, web.client):
            for method, path in calls:
                response = await client.request(method, path, json={"name": "y"})
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert "pw-x" not in response.text and "ann@dest.example" not in response.text
    after = (await mailing.list_relays(), await mailing.store.list_lists(),
             await mailing.store.counts((await mailing.campaign("x")).id))  # fmt: skip
    assert after == before
