"""The provider settings (R11–R13): folders, mark as read, what DELE does at QUIT."""

from __future__ import annotations

import asyncio

import pytest

from postfach.store.records import Pop3Delete

from .helpers import PASSWORD, Wire, fill, in_thread, login, message, stored


async def download_and_delete(server, *, quit_: bool = True) -> list[bytes]:
    """RETR and DELE every message; QUIT, or drop the connection."""
    wire = await Wire.open(server)
    await wire.login()
    count = int((await wire.cmd(b"STAT")).split()[1])
    subjects = []
    for n in range(1, count + 1):
        assert (await wire.cmd(b"RETR %d" % n)).startswith(b"+OK")
        subjects += [line for line in await wire.body() if line.startswith(b"Subject:")]
        assert (await wire.cmd(b"DELE %d" % n)).startswith(b"+OK")
    if quit_:
        assert (await wire.cmd(b"QUIT")).startswith(b"+OK")
        assert await wire.closed()
    else:
        wire.writer.transport.abort()
        await asyncio.sleep(0.2)
    return subjects


@pytest.mark.parametrize("policy", list(Pop3Delete))
async def test_dele_at_quit(server, policy):
    account = await server.add_user("a@example.org", PASSWORD, pop3_delete=policy)
    await fill(server, account, [message(1), message(2)])
    assert len(await download_and_delete(server)) == 2
    inbox, trash = await stored(server, account), await stored(server, account, "Trash")
    if policy is Pop3Delete.KEEP:
        assert (len(inbox), len(trash)) == (2, 0)
    elif policy is Pop3Delete.TRASH:
        assert (len(inbox), len(trash)) == (0, 2)
    else:
        assert (len(inbox), len(trash)) == (0, 0)


@pytest.mark.parametrize("policy", list(Pop3Delete))
async def test_dropped_connection_changes_nothing(server, policy):
    account = await server.add_user(
        "a@example.org", PASSWORD, pop3_delete=policy, pop3_mark_read=True
    )
    await fill(server, account, [message(1), message(2)])
    await download_and_delete(server, quit_=False)
    inbox = await stored(server, account)
    assert len(inbox) == 2
    assert all("\\Seen" not in m.flags for m in inbox)
    assert await stored(server, account, "Trash") == []


async def test_rset_undoes_dele(server):
    account = await server.add_user("a@example.org", PASSWORD, pop3_delete=Pop3Delete.EXPUNGE)
    await fill(server, account, [message(1)])

    def run():
        pop = login(server)
        pop.dele(1)
        pop.rset()
        pop.quit()

    await in_thread(run)
    assert len(await stored(server, account)) == 1


async def test_retr_does_not_mark_read_by_default(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1)])
    await download_and_delete(server)
    [msg] = await stored(server, account)
    assert "\\Seen" not in msg.flags


async def test_retr_marks_read_when_asked_and_top_never(server):
    account = await server.add_user("a@example.org", PASSWORD, pop3_mark_read=True)
    await fill(server, account, [message(1), message(2)])

    def run():
        pop = login(server)
        pop.retr(1)
        pop.top(2, 5)
        pop.quit()

    await in_thread(run)
    first, second = await stored(server, account)
    assert "\\Seen" in first.flags
    assert "\\Seen" not in second.flags


async def test_mark_read_then_trash(server):
    account = await server.add_user(
        "a@example.org", PASSWORD, pop3_mark_read=True, pop3_delete=Pop3Delete.TRASH
    )
    await fill(server, account, [message(1)])
    await download_and_delete(server)
    [msg] = await stored(server, account, "Trash")
    assert "\\Seen" in msg.flags


async def test_inbox_only_by_default(server):
    account = await server.add_user("a@example.org", PASSWORD)
    await fill(server, account, [message(1)])
    await fill(server, account, [message(2)], "Spam")
    assert await download_and_delete(server) == [b"Subject: message 1"]


async def test_chosen_folders_in_arrival_order(server):
    account = await server.add_user("a@example.org", PASSWORD, pop3_folders=("Spam", "Sent"))
    await fill(server, account, [message(1)])
    await fill(server, account, [message(2)], "Spam")
    await fill(server, account, [message(3)])
    await fill(server, account, [message(4)], "Drafts")  # not chosen
    await fill(server, account, [message(5)], "Sent")

    def run():
        pop = login(server)
        result = pop.capa(), pop.uidl()[1]
        pop.quit()
        return result

    caps, uidl = await in_thread(run)
    assert caps["EXPIRE"] == ["10"]  # Spam is kept 10 days (R14)
    assert len({line.split()[1] for line in uidl}) == 4
    subjects = await download_and_delete(server)
    assert subjects == [b"Subject: message %d" % n for n in (1, 2, 3, 5)]


async def test_missing_chosen_folder_is_skipped(server):
    account = await server.add_user("a@example.org", PASSWORD, pop3_folders=("Nope",))
    await fill(server, account, [message(1)])
    assert len(await download_and_delete(server)) == 1


async def test_trash_policy_from_spam_folder(server):
    account = await server.add_user(
        "a@example.org", PASSWORD, pop3_folders=("Spam",), pop3_delete=Pop3Delete.TRASH
    )
    await fill(server, account, [message(1)], "Spam")
    await download_and_delete(server)
    assert await stored(server, account, "Spam") == []
    assert len(await stored(server, account, "Trash")) == 1


async def test_message_removed_by_imap_meanwhile(server):
    account = await server.add_user("a@example.org", PASSWORD, pop3_delete=Pop3Delete.EXPUNGE)
    inbox = await fill(server, account, [message(1), message(2)])
    wire = await Wire.open(server)
    await wire.login()
    [first, _] = await stored(server, account)
    await server.ctx.store.mail.delete_messages(inbox.id, [first.uid])
    reply = await wire.cmd(b"RETR 1")
    assert reply.startswith(b"-ERR [SYS/TEMP]")
    assert (await wire.cmd(b"RETR 2")).startswith(b"+OK")
    await wire.body()
    assert (await wire.cmd(b"DELE 1")).startswith(b"+OK")
    assert (await wire.cmd(b"QUIT")).startswith(b"+OK")
    assert len(await stored(server, account)) == 1
