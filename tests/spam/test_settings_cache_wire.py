"""Each process caches an account's delivery settings (store/settings_cache.py):
a change still reaches the next message over SMTP. At once when made through
this server (the admin API); within the generation poll (0.5 s) when another
process made it: the CLI (run here with a store of its own, so no hub links the
two, as on SQLite) or a writer whose notification was lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from harness import BACKENDS, TestServer, make_server
from postfach.store import Store
from support.cli import run_cli
from support.dnszone import serve_zone

from .test_spam_wire import ALICE, PASSWORD, PHISH, folder, message, send

TOKEN = "pfat_" + "c" * 40
BOUND = 5.0  # seconds: 0.5 s poll, with room for a loaded machine


@pytest.fixture(params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    with serve_zone() as zone:
        async with make_server(
            tmp_path, request.param, dns={"nameservers": [zone.address], "timeout": 1.0}
        ) as running:
            await running.add_user(ALICE, PASSWORD)
            await running.ctx.store.web.add_admin_token("cache-tests", TOKEN)
            yield running


def api(server: TestServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port('http')}/api/v1/accounts/{ALICE}",
        headers={"authorization": f"Bearer {TOKEN}"},
    )


async def landed(server: TestServer, subject: str) -> str:
    """The folder the message with `subject` is in."""
    for name in ("INBOX", "Spam"):
        if any(m["Subject"] == subject for m in await folder(server, name)):
            return name
    raise AssertionError(f"{subject!r} is in neither folder")


async def sent_to(server: TestServer, subject: str, raw: bytes | None = None) -> str:
    await send(server, raw or message(subject, "Shall we meet at noon?", mid=subject))
    return await landed(server, subject)


async def until(check: Callable[[int], Awaitable[bool]]) -> float:
    """Calls check(n) with n = 0, 1, ... until it holds; the seconds it took."""
    start = time.monotonic()
    n = 0
    while not await check(n):
        n += 1
        assert time.monotonic() - start < BOUND, "the change did not apply in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_admin_api_changes_apply_to_the_next_message(server: TestServer) -> None:
    assert await sent_to(server, "warm") == "INBOX"
    account = await server.ctx.store.accounts.get_account(ALICE)
    assert account is not None
    cache = server.ctx.store.settings_cache  # the delivery filled it: the changes must pass it
    assert cache.spam(account.id) is not None and cache.sieve(account.id) == (True, None)
    async with api(server) as client:
        assert (await client.put("/spam/senders/sender.test", json={"kind": "block"})).is_success
        assert await sent_to(server, "blocked") == "Spam"
        assert (await client.delete("/spam/senders/sender.test")).is_success
        assert await sent_to(server, "unblocked") == "INBOX"
        phish = PHISH.replace(b"Subject: your account", b"Subject: phish one")
        await send(server, phish)
        assert await landed(server, "phish one") == "Spam"  # 10.5 over the server's 5.0
        assert (await client.patch("/spam", json={"file_threshold": 20.0})).is_success
        await send(server, phish.replace(b"phish one", b"phish two"))
        assert await landed(server, "phish two") == "INBOX"


async def test_cli_changes_apply_within_the_poll(server: TestServer, tmp_path: Path) -> None:
    assert await sent_to(server, "warm") == "INBOX"
    config = tmp_path / "cli.toml"
    config.write_text(f'[storage]\nurl = "{server.ctx.store.url}"\n')
    status, out = await run_cli(
        ["user", "sender", ALICE, "block", "sender.test", "--config", str(config)]
    )
    assert status == 0, out

    async def filed(n: int) -> bool:
        return await sent_to(server, f"after cli {n}") == "Spam"

    took = await until(filed)
    print(f"\nthe CLI's block list applied after {took * 1000:.0f} ms")


async def test_a_lost_notification_is_made_up_by_the_poll(server: TestServer) -> None:
    """Another writer whose ChangeAccountSettings never arrives (a PostgreSQL
    listener that was reconnecting): the generation row still tells."""
    store = server.ctx.store
    account = await store.accounts.get_account(ALICE)
    assert account is not None
    assert await sent_to(server, "warm") == "INBOX"  # no script: cached as none
    other = await Store.connect(store.url)
    try:
        other.hub.forward = None  # its changes reach nobody but itself
        await other.sieve.put_script(account.id, "all", 'require "fileinto";\nfileinto "Trash";')
        assert await other.sieve.set_active(account.id, "all")
    finally:
        await other.close()

    async def trashed(n: int) -> bool:
        subject = f"lost {n}"
        await send(server, message(subject, "hello", mid=subject))
        return any(m["Subject"] == subject for m in await folder(server, "Trash"))

    took = await until(trashed)
    print(f"\nthe unannounced script applied after {took * 1000:.0f} ms")
