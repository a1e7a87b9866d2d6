"""The admin API over the ASGI client: bearer tokens made by `postfach admin
token`, every resource, RFC 9457 problem details, and the OpenAPI document."""

from __future__ import annotations

import argparse
import asyncio
import imaplib

import pytest

from postfach.cli import webadmin
from postfach.web.openapi import OPENAPI

from .webhelpers import PASSWORD, sign_in

PROBLEM = "application/problem+json"


def parse_webadmin_args(config_path, *argv: str) -> None:
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    webadmin.register(parser.add_subparsers(dest="command"), common)
    args = parser.parse_args([*argv, "--config", str(config_path)])
    return args


@pytest.fixture
async def api(web, tmp_path):
    token = "pfat_" + "t" * 40
    await web.ctx.store.web.add_admin_token("tests", token)
    web.client.headers["authorization"] = f"Bearer {token}"
    return web


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    return body


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer wrong", "Basic abc", "bearer " + "x" * 300]
)
async def test_requests_without_a_valid_token_are_refused(web, header):
    if header is not None:
        web.client.headers["authorization"] = header
    response = await web.client.get("/api/v1/accounts")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "password" not in response.text


async def test_the_cli_makes_lists_and_revokes_tokens(web, tmp_path, capsys):
    config = tmp_path / "postfach.toml"
    config.write_text(f'[storage]\nurl = "{web.ctx.store.url}"\n')
    args = parse_webadmin_args(config, "admin", "token", "provisioning")
    assert await args.handler(args) == 0
    token = capsys.readouterr().out.split()[-1]
    assert token.startswith("pfat_")
    web.client.headers["authorization"] = f"Bearer {token}"
    assert (await web.client.get("/api/v1/domains")).status_code == 200
    args = parse_webadmin_args(config, "admin", "token", "--list")
    await args.handler(args)
    assert "provisioning" in capsys.readouterr().out
    # only a hash is stored
    assert token not in str(await web.ctx.store.web.list_admin_tokens())
    args = parse_webadmin_args(config, "admin", "token", "--revoke", "provisioning")
    await args.handler(args)
    assert_problem(await web.client.get("/api/v1/domains"), 401)


async def test_domains(api):
    c = api.client
    assert (await c.get("/api/v1/domains")).json() == [{"name": "example.org"}]
    response = await c.post("/api/v1/domains", json={"name": "Example.NET"})
    assert response.status_code == 201 and response.json() == {"name": "example.net"}
    assert_problem(await c.post("/api/v1/domains", json={"name": "example.net"}), 409)
    assert_problem(await c.post("/api/v1/domains", json={"name": 5}), 422)
    assert_problem(await c.post("/api/v1/domains", content=b"{nope"), 400)
    assert_problem(await c.post("/api/v1/domains", json=["a"]), 422)
    assert_problem(await c.delete("/api/v1/domains/example.org"), 409)  # has accounts
    assert (await c.delete("/api/v1/domains/example.net")).status_code == 204
    assert_problem(await c.delete("/api/v1/domains/example.net"), 404)


async def test_accounts(api):
    c = api.client
    listed = (await c.get("/api/v1/accounts")).json()
    assert [a["address"] for a in listed] == ["alice@example.org", "bob@example.org"]
    assert all("password" not in key for a in listed for key in a)
    new = {"address": "Carol@example.org", "password": "a long password", "quota_bytes": 1000}
    response = await c.post("/api/v1/accounts", json=new)
    assert response.status_code == 201
    assert response.json()["address"] == "carol@example.org"
    assert response.json()["quota_bytes"] == 1000
    assert_problem(await c.post("/api/v1/accounts", json=new), 409)
    assert_problem(await c.post("/api/v1/accounts", json={**new, "address": "x@nowhere.test"}), 422)
    assert_problem(await c.post("/api/v1/accounts", json={**new, "password": "short"}), 422)
    assert_problem(await c.post("/api/v1/accounts", json={"address": "no-at-sign"}), 422)
    got = (await c.get("/api/v1/accounts/carol@example.org")).json()
    assert got["imap_enabled"] is True and got["pop3_delete"] == "keep"
    assert_problem(await c.get("/api/v1/accounts/nobody@example.org"), 404)
    assert (await c.delete("/api/v1/accounts/carol@example.org")).status_code == 204
    assert_problem(await c.delete("/api/v1/accounts/carol@example.org"), 404)


async def test_account_settings(api):
    c = api.client
    response = await c.patch(
        "/api/v1/accounts/alice@example.org",
        json={"pop3_enabled": False, "pop3_folders": ["INBOX", "Spam"], "pop3_delete": "trash",
              "pop3_mark_read": True, "save_sent": True, "quota_bytes": 5000},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["pop3_enabled"] is False and body["pop3_folders"] == ["INBOX", "Spam"]
    assert body["pop3_delete"] == "trash" and body["pop3_mark_read"] and body["save_sent"]
    account = await api.ctx.store.accounts.get_account("alice@example.org")
    assert account.pop3_folders == ("INBOX", "Spam") and account.quota_bytes == 5000
    for bad in ({"imap_enabled": "yes"}, {"pop3_delete": "shred"}, {"pop3_folders": []},
                {"quota_bytes": -1}, {"password_hash": "x"}, {"credentials_gen": 7}):  # fmt: skip
        assert_problem(await c.patch("/api/v1/accounts/alice@example.org", json=bad), 422)


async def test_password_and_logout(api):
    c = api.client
    assert_problem(
        await c.put("/api/v1/accounts/alice@example.org/password", json={"password": "x"}), 422
    )
    response = await c.put(
        "/api/v1/accounts/alice@example.org/password", json={"password": "a brand new secret"}
    )
    assert response.status_code == 204
    auth = api.ctx.auth
    assert not (await auth.authenticate("alice@example.org", PASSWORD, "imap", "1.2.3.4")).ok
    assert (
        await auth.authenticate("alice@example.org", "a brand new secret", "imap", "1.2.3.4")
    ).ok
    before = (await api.ctx.store.accounts.get_account("alice@example.org")).credentials_gen
    response = await c.post("/api/v1/accounts/alice@example.org/logout")
    assert response.json() == {"address": "alice@example.org", "credentials_generation": before + 1}


async def test_app_passwords(api):
    c = api.client
    base = "/api/v1/accounts/bob@example.org/app-passwords"
    response = await c.post(base, json={"name": "phone"})
    assert response.status_code == 201
    password = response.json()["password"]
    assert len(password.replace("-", "")) == 16
    listed = (await c.get(base)).json()
    assert [p["name"] for p in listed] == ["phone"] and "password" not in listed[0]
    assert_problem(await c.post(base, json={"name": "phone"}), 409)
    assert_problem(await c.post(base, json={"name": ""}), 422)
    auth = api.ctx.auth
    assert (await auth.authenticate("bob@example.org", password, "imap", "1.2.3.4")).ok
    assert (await c.delete(base + "/phone")).status_code == 204
    assert not (await auth.authenticate("bob@example.org", password, "imap", "1.2.3.4")).ok
    assert_problem(await c.delete(base + "/phone"), 404)


async def test_aliases(api):
    c = api.client
    response = await c.post(
        "/api/v1/aliases", json={"address": "info@example.org", "target": "alice@example.org"}
    )
    assert response.status_code == 201
    assert (await c.get("/api/v1/aliases")).json() == [
        {"address": "info@example.org", "target": "alice@example.org"}
    ]
    assert_problem(
        await c.post("/api/v1/aliases", json={"address": "x", "target": "alice@example.org"}), 422
    )
    assert (await c.delete("/api/v1/aliases/info@example.org")).status_code == 204
    assert_problem(await c.delete("/api/v1/aliases/info@example.org"), 404)


async def test_queue(api):
    c = api.client
    response = await c.get("/api/v1/queue")
    if response.status_code == 501:
        pytest.skip("this build has no outbound queue")
    assert response.status_code == 200 and response.json() == []
    assert (await c.post("/api/v1/queue/retry")).json() == {"recipients": 0}
    assert_problem(await c.delete("/api/v1/queue/12345"), 404)


async def test_unknown_paths_and_methods_are_problems(api):
    assert_problem(await api.client.get("/api/v1/nothing-here"), 404)
    assert_problem(await api.client.put("/api/v1/domains"), 405)


async def test_openapi_lists_every_route(api):
    response = await api.client.get("/api/v1/openapi.json")
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    documented = {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    from postfach.web.admin_api import routes

    served = {
        (route.path.removeprefix("/api/v1").replace("{id:int}", "{id}"), method)
        for route in routes()
        for method in route.methods or ()
        if method != "HEAD" and not route.path.endswith("openapi.json")
    }
    assert documented == served
    assert doc == OPENAPI


async def test_logout_via_api_ends_an_open_imap_session(api):
    """The API's logout reaches IMAP sessions at once, through the store's hub."""

    def login():
        imap = imaplib.IMAP4("127.0.0.1", api.server.port("imap"))
        imap.login("alice@example.org", PASSWORD)
        imap.select("INBOX")
        return imap

    imap = await asyncio.to_thread(login)
    try:
        await api.client.post("/api/v1/accounts/alice@example.org/logout")

        def noop():
            try:
                imap.noop()
            except (imaplib.IMAP4.abort, OSError) as exc:
                return str(exc)
            return imap.untagged_responses.get("BYE")

        result = await asyncio.to_thread(noop)
        assert result, "the IMAP session went on after logout everywhere"
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass


async def test_web_session_cookie_is_no_api_token(web):
    await sign_in(web.client, "alice@example.org")
    assert_problem(await web.client.get("/api/v1/accounts"), 401)


async def test_queue_list_retry_and_delete(tmp_path):
    from harness import make_server
    from postfach.store.queue import NewQueueRecipient

    from .webhelpers import client_for, make_message

    # Outbound mail to a port where nothing listens stays queued.
    async with make_server(tmp_path, queue={"relay_host": "127.0.0.1:9"}) as running:
        store = running.ctx.store
        await store.web.add_admin_token("tests", "pfat_queue")
        message_id = await store.queue.insert(
            "alice@example.org", [NewQueueRecipient("friend@example.net")], make_message()
        )
        async with client_for(running.ctx) as client:
            client.headers["authorization"] = "Bearer pfat_queue"
            [entry] = (await client.get("/api/v1/queue")).json()
            assert entry["id"] == message_id and entry["sender"] == "alice@example.org"
            [recipient] = entry["recipients"]
            assert recipient["address"] == "friend@example.net"
            assert recipient["status"] == "queued"
            response = await client.post(f"/api/v1/queue/{message_id}/retry")
            assert response.status_code == 200 and response.json()["recipients"] in (0, 1)
            assert (await client.delete(f"/api/v1/queue/{message_id}")).status_code == 204
            assert (await client.get("/api/v1/queue")).json() == []
