"""The web listener's part of the store (store/web.py), on both backends."""

from __future__ import annotations

import time

import pytest

from postfach.store import AlreadyExists, NotFound

from .webhelpers import make_message


async def test_web_sessions(store):
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("a@example.org", "hash")
    await store.web.create_web_session("sid-1", account.id, account.credentials_gen, "csrf-1", 3600)
    session = await store.web.get_web_session("sid-1")
    assert session.account_id == account.id and session.csrf == "csrf-1"
    assert await store.web.get_web_session("sid-2") is None
    await store.web.create_web_session("old", account.id, account.credentials_gen, "c", -1)
    assert await store.web.get_web_session("old") is None  # expired
    assert await store.web.count_web_sessions(account.id) == 2
    await store.web.delete_web_session("sid-1")
    assert await store.web.get_web_session("sid-1") is None


async def test_logout_everywhere_drops_web_sessions(store):
    await store.accounts.add_domain("example.org")
    a = await store.accounts.add_account("a@example.org", "hash")
    b = await store.accounts.add_account("b@example.org", "hash")
    await store.web.create_web_session("a1", a.id, a.credentials_gen, "c", 3600)
    await store.web.create_web_session("a2", a.id, a.credentials_gen, "c", 3600)
    await store.web.create_web_session("b1", b.id, b.credentials_gen, "c", 3600)
    await store.accounts.bump_credentials(a.id)
    assert await store.web.count_web_sessions(a.id) == 0
    assert await store.web.get_web_session("a1") is None
    assert await store.web.get_web_session("b1") is not None
    # A session written with the old generation does not work either.
    await store.web.create_web_session("late", a.id, a.credentials_gen, "c", 3600)
    assert await store.web.get_web_session("late") is None


async def test_removing_the_account_removes_its_sessions(store):
    await store.accounts.add_domain("example.org")
    a = await store.accounts.add_account("a@example.org", "hash")
    await store.web.create_web_session("a1", a.id, a.credentials_gen, "c", 3600)
    await store.accounts.remove_account("a@example.org")
    assert await store.web.get_web_session("a1") is None


async def test_admin_tokens(store):
    token = await store.web.add_admin_token("ops", "pfat_secret")
    assert token.name == "ops" and token.last_used is None
    with pytest.raises(AlreadyExists):
        await store.web.add_admin_token("ops", "pfat_other")
    checked = await store.web.check_admin_token("pfat_secret")
    assert checked is not None and checked.last_used is not None
    assert await store.web.check_admin_token("pfat_wrong") is None
    [listed] = await store.web.list_admin_tokens()
    assert listed.last_used is not None
    await store.web.revoke_admin_token("ops")
    assert await store.web.check_admin_token("pfat_secret") is None
    with pytest.raises(NotFound):
        await store.web.revoke_admin_token("ops")


async def test_message_page_is_newest_first(store):
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("a@example.org", "hash")
    inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
    now = time.time()
    for n, when in enumerate([now - 10, now - 30, now - 20, now - 30]):
        await store.mail.append(inbox.id, make_message(f"m{n}", f"body {n}"), internaldate=when)
    page = await store.mail.message_page(inbox.id, 0, 3)
    assert [m.uid for m in page] == [1, 3, 4]  # by date, then by UID, newest first
    assert [m.uid for m in await store.mail.message_page(inbox.id, 3, 3)] == [2]
    assert page[0].parsed  # what the list needs to show sender and subject
