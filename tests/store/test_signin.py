"""The sign-in role on both backends: a TOTP step and a recovery code each pass
once, pending sign-ins count wrong codes, mail programs seen are kept per
credential; and the columns added to web_sessions reach an older database."""

from __future__ import annotations

import time

from postfach.auth.passwords import hash_password_async
from postfach.store import Store


async def _account(store: Store):
    await store.accounts.add_domain("example.org")
    return await store.accounts.add_account("anna@example.org", await hash_password_async("x" * 12))


async def test_a_step_and_a_recovery_code_pass_once(store):
    anna = await _account(store)
    assert await store.signin.second_factor(anna.id) is None
    await store.signin.begin_second_factor(anna.id, "A" * 32)
    assert not await store.signin.second_factor_enabled(anna.id)
    assert not await store.signin.accept_totp_step(anna.id, 100)  # not on yet
    assert await store.signin.enable_second_factor(anna.id, 100, ["d1", "d2"])
    assert not await store.signin.enable_second_factor(anna.id, 100, ["d3"])  # already on
    await store.signin.begin_second_factor(anna.id, "B" * 32)  # never replaces an enabled one
    factor = await store.signin.second_factor(anna.id)
    assert factor.enabled and factor.secret == "A" * 32 and factor.recovery_left == 2
    assert not await store.signin.accept_totp_step(anna.id, 100)  # the enrolling step
    assert await store.signin.accept_totp_step(anna.id, 101)
    assert not await store.signin.accept_totp_step(anna.id, 101)
    assert not await store.signin.accept_totp_step(anna.id, 99)
    assert await store.signin.use_recovery_code(anna.id, "d1")
    assert not await store.signin.use_recovery_code(anna.id, "d1")
    assert not await store.signin.use_recovery_code(anna.id, "nope")
    assert (await store.signin.second_factor(anna.id)).recovery_left == 1
    await store.signin.disable_second_factor(anna.id)
    assert await store.signin.second_factor(anna.id) is None


async def test_pending_sign_ins_count_wrong_codes_and_expire(store):
    anna = await _account(store)
    await store.signin.create_pending_login("login-1", anna.id, anna.credentials_gen, 300)
    await store.signin.create_pending_login("login-2", anna.id, anna.credentials_gen, -1)
    assert (await store.signin.pending_login("login-1")).account_id == anna.id
    assert await store.signin.pending_login("login-2") is None  # expired
    assert await store.signin.count_failed_code("login-1") == 1
    assert await store.signin.count_failed_code("login-1") == 2
    await store.signin.end_pending_login("login-1")
    assert await store.signin.pending_login("login-1") is None


async def test_mail_programs_seen_one_row_per_credential(store):
    anna = await _account(store)
    for _ in range(3):
        await store.signin.note_login(anna.id, "imap", "192.0.2.1", None)
    await store.signin.note_login(anna.id, "imap", "192.0.2.1", "phone")
    await store.signin.note_login(anna.id, "smtp", "192.0.2.1", "phone")
    seen = await store.signin.seen_logins(anna.id, time.time() - 60)
    assert sorted((s.protocol, s.app_password) for s in seen) == [
        ("imap", ""), ("imap", "phone"), ("smtp", "phone"),
    ]  # fmt: skip
    await store.signin.forget_login(anna.id, seen[0].id)
    assert len(await store.signin.seen_logins(anna.id, time.time() - 60)) == 2
    assert await store.signin.seen_logins(anna.id, time.time() + 60) == []  # older ones go


async def test_columns_added_since_a_table_was_made_are_added_by_migrate(store):
    anna = await _account(store)
    await store.web.create_web_session(
        "sid", anna.id, anna.credentials_gen, "csrf", 300, "192.0.2.9"
    )
    async with store.write() as tx:  # the table as the first release made it
        await tx.exec_driver_sql("ALTER TABLE web_sessions DROP COLUMN last_seen")
        await tx.exec_driver_sql("ALTER TABLE web_sessions DROP COLUMN user_agent")
    await store.migrate()
    [session] = await store.web.list_web_sessions(anna.id)
    assert session.user_agent == "" and session.last_seen is None and session.ip == "192.0.2.9"
    await store.web.note_web_session_use("sid", "curl/8.0")
    [session] = await store.web.list_web_sessions(anna.id)
    assert session.user_agent == "curl/8.0" and session.last_seen is not None
