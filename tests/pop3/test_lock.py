"""One POP3 session per account (RFC 1939 §8, [IN-USE] of RFC 2449), logout everywhere."""

from __future__ import annotations

import asyncio

from postfach.pop3 import replies

from .helpers import PASSWORD, Wire, fill, message


async def test_second_session_is_in_use(server):
    await server.add_user("a@example.org", PASSWORD)
    first = await Wire.open(server)
    await first.login()
    second = await Wire.open(server)
    await second.cmd(b"USER a@example.org")
    assert await second.cmd(b"PASS " + PASSWORD.encode()) == replies.IN_USE
    # Still in AUTHORIZATION: once the first one quits, the second gets in.
    assert (await first.cmd(b"QUIT")).startswith(b"+OK")
    assert await first.closed()
    await second.login()
    await second.close()


async def test_lock_released_when_connection_drops(server):
    await server.add_user("a@example.org", PASSWORD)
    first = await Wire.open(server)
    await first.login()
    first.writer.transport.abort()
    second = await Wire.open(server)
    await second.cmd(b"USER a@example.org")
    for _ in range(50):  # the server notices the drop within a few loop turns
        reply = await second.cmd(b"PASS " + PASSWORD.encode())
        if reply != replies.IN_USE:
            break
        await second.cmd(b"USER a@example.org")
        await asyncio.sleep(0.02)
    assert reply.startswith(b"+OK logged in")
    await second.close()


async def test_other_accounts_are_independent(server):
    await server.add_user("a@example.org", PASSWORD)
    await server.add_user("b@example.org", PASSWORD)
    first = await Wire.open(server)
    await first.login()
    second = await Wire.open(server)
    await second.login("b@example.org")
    await first.close()
    await second.close()


async def test_lock_held_by_another_node(server):
    account = await server.add_user("a@example.org", PASSWORD)
    store = server.ctx.store
    lease = server.ctx.config.server.lease_time
    assert await store.locks.try_lock(f"pop3:{account.id}", "other-node/1", lease)
    wire = await Wire.open(server)
    await wire.cmd(b"USER a@example.org")
    assert await wire.cmd(b"PASS " + PASSWORD.encode()) == replies.IN_USE
    await store.locks.unlock(f"pop3:{account.id}", "other-node/1")
    await wire.login()
    await wire.close()


async def test_logout_everywhere_ends_the_session(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1)])
    wire = await Wire.open(server)
    await wire.login()
    assert (await wire.cmd(b"DELE 1")).startswith(b"+OK")
    await server.ctx.store.accounts.bump_credentials(account.id)
    assert await wire.closed()
    # No UPDATE happened, and the lock is free for a new login.
    other = await Wire.open(server)
    await other.login()
    assert (await other.cmd(b"STAT")).startswith(b"+OK 1 ")
    await other.close()


async def test_password_change_keeps_the_session(server):
    account = await server.add_user("a@example.org", PASSWORD)
    wire = await Wire.open(server)
    await wire.login()
    await server.ctx.store.accounts.set_password_hash(account.id, account.password_hash)
    assert await wire.cmd(b"NOOP") == b"+OK\r\n"
    await wire.close()
