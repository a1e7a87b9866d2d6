"""The settings page's import: queued from the web, run by the server, resumed after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.moving.support import contents, fill
from tests.web.webhelpers import PASSWORD, client_for, page_csrf, sign_in

from harness import BACKENDS, make_server
from postfach.moving.service import queue_import
from postfach.store import Store
from support.net import free_port

FOLDERS = {"INBOX": 150, "Sent": 30, "Projects": 20}


async def wait_done(store: Store, address: str) -> None:
    account = await store.accounts.get_account(address)
    assert account is not None
    async with asyncio.timeout(60):
        while True:
            jobs = await store.imports.jobs(account.id)
            if jobs and jobs[0].state in {"done", "failed"}:
                assert jobs[0].state == "done", jobs[0].error
                assert jobs[0].password_enc == ""  # the secret goes when the job ends
                return
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_import_started_on_the_settings_page_runs_in_the_background(
    tmp_path: Path, backend: str
) -> None:
    async with make_server(tmp_path, backend, imports={"web_private_hosts": True}) as server:
        old = await server.add_user("old@example.org", "old-server-pass")
        await server.add_user("alice@example.org", PASSWORD)
        await fill(server.ctx.store, old.id, FOLDERS)
        async with client_for(server.ctx) as client:
            assert (await sign_in(client, "alice@example.org")).status_code == 303
            csrf = await page_csrf(client, "/settings/import")
            form = {
                "csrf": csrf,
                "host": "127.0.0.1",
                "port": str(server.port("imap")),
                "security": "none",
                "login": "old@example.org",
                "password": "x",
            }
            bad = await client.post("/settings/import", data={**form, "port": "99999"})
            assert bad.status_code == 422 and "65535" in bad.text
            no_csrf = await client.post("/settings/import", data={**form, "csrf": "forged"})
            assert no_csrf.status_code in {400, 403}
            response = await client.post(
                "/settings/import", data={**form, "password": "old-server-pass"}
            )
            assert response.status_code == 303
            await wait_done(server.ctx.store, "alice@example.org")
            page = await client.get("/settings/import")
            assert "done" in page.text and "200 of 200" in page.text
            assert "old-server-pass" not in page.text
        assert await contents(server.ctx.store, "alice@example.org") == await contents(
            server.ctx.store, "old@example.org"
        )


async def test_a_job_left_running_by_a_stopped_server_resumes_at_start(tmp_path: Path) -> None:
    listeners = {"imap": f"127.0.0.1:{free_port()}"}
    imports = {"web_private_hosts": True}
    async with make_server(tmp_path, listeners=listeners, imports=imports) as server:
        old = await server.add_user("old@example.org", "old-server-pass")
        alice = await server.add_user("alice@example.org", PASSWORD)
        await fill(server.ctx.store, old.id, FOLDERS)
        expected = await contents(server.ctx.store, "old@example.org")
        imap_port = server.port("imap")
    # Queued and taken (running) while no server runs: as if it stopped mid-import.
    store = await Store.connect(f"sqlite:///{tmp_path / 'postfach.db'}")
    try:
        await queue_import(store, tmp_path / "data", alice.id, "127.0.0.1", imap_port,
                           "none", "old@example.org", "old-server-pass")  # fmt: skip
        job = await store.imports.next_job()
        assert job is not None and job.state == "running"
    finally:
        await store.close()
    async with make_server(tmp_path, listeners=listeners, imports=imports) as server:
        await wait_done(server.ctx.store, "alice@example.org")
        assert await contents(server.ctx.store, "alice@example.org") == expected


async def test_the_web_import_may_not_reach_private_addresses_by_default(tmp_path: Path) -> None:
    async with make_server(tmp_path) as server:
        await server.add_user("old@example.org", "old-server-pass")
        await server.add_user("alice@example.org", PASSWORD)
        async with client_for(server.ctx) as client:
            await sign_in(client, "alice@example.org")
            csrf = await page_csrf(client, "/settings/import")
            form = {
                "csrf": csrf,
                "host": "127.0.0.1",
                "port": str(server.port("imap")),
                "security": "none",
                "login": "old@example.org",
                "password": "old-server-pass",
            }
            assert (await client.post("/settings/import", data=form)).status_code == 303
            account = await server.ctx.store.accounts.get_account("alice@example.org")
            assert account is not None
            async with asyncio.timeout(30):
                while (job := (await server.ctx.store.imports.jobs(account.id))[0]).state in {
                    "queued",
                    "running",
                }:
                    await asyncio.sleep(0.1)
            assert job.state == "failed" and "private address" in job.error
            assert job.password_enc == ""
