"""RFC 1939 commands over the wire with poplib and raw transcripts."""

from __future__ import annotations

import poplib

import pytest

from postfach.pop3 import replies

from .helpers import PASSWORD, Wire, fill, in_thread, login, message, stored


@pytest.fixture
async def account(server):
    return await server.add_user("a@example.org", PASSWORD)


async def served(server, account, name="INBOX"):
    """Each message exactly as POP3 must send it: prefix + blob with CRLF."""
    store = server.ctx.store
    return [await store.mail.read_raw(m) for m in await stored(server, account, name)]


async def test_stat_list_uidl(server, account):
    await fill(server, account, [message(1), message(2), message(3)])
    raws = await served(server, account)

    def run():
        pop = login(server)
        result = pop.stat(), pop.list(), pop.list(2), pop.uidl(), pop.uidl(3)
        pop.quit()
        return result

    stat, listing, one, uidl, uidl3 = await in_thread(run)
    assert stat == (3, sum(map(len, raws)))
    assert listing[1] == [b"%d %d" % (i, len(r)) for i, r in enumerate(raws, 1)]
    assert one == b"+OK 2 %d" % len(raws[1])
    ids = [line.split()[1] for line in uidl[1]]
    assert len(set(ids)) == 3
    assert all(0x21 <= c <= 0x7E for uid in ids for c in uid) and max(map(len, ids)) <= 70
    assert uidl3 == b"+OK 3 " + ids[2]


async def test_empty_maildrop(server, account):
    def run():
        pop = login(server)
        result = pop.stat(), pop.list(), pop.uidl()
        pop.quit()
        return result

    stat, listing, uidl = await in_thread(run)
    assert stat == (0, 0)
    assert listing[1] == [] and uidl[1] == []


async def test_retr_is_prefix_plus_blob_byte_exact(server, account):
    await server.ctx.delivery.deliver(message(1), "sender@example.net", ["a@example.org"])
    [raw] = await served(server, account)
    assert raw.startswith(b"Return-Path:")  # the trace prefix is served too

    def run():
        pop = login(server)
        result = pop.retr(1)
        pop.quit()
        return result

    resp, lines, octets = await in_thread(run)
    assert resp == b"+OK %d octets" % len(raw)
    assert b"\r\n".join(lines) + b"\r\n" == raw


async def test_dot_stuffing_and_bare_lf(server, account):
    body = b".starts with a dot\n.\n..two\nplain\r\n.\r\nend"  # bare LF, no final line end
    await fill(server, account, [b"Subject: dots\n\n" + body])
    wire = await Wire.open(server)
    await wire.login()
    status = await wire.cmd(b"RETR 1")
    expected = (
        b"Subject: dots\r\n\r\n.starts with a dot\r\n.\r\n..two\r\nplain\r\n.\r\nend\r\n"
    )
    assert status == b"+OK %d octets\r\n" % (len(expected) - 2)
    assert await wire.body() == [
        b"Subject: dots", b"", b"..starts with a dot", b"..", b"...two", b"plain", b"..", b"end",
    ]
    await wire.close()


async def test_top(server, account):
    await fill(server, account, [message(1, b"line 1\r\n.line 2\r\nline 3\r\n")])
    [raw] = await served(server, account)
    header = raw.split(b"\r\n\r\n")[0].split(b"\r\n")

    def run():
        pop = login(server)
        result = pop.top(1, 0), pop.top(1, 2), pop.top(1, 99)
        pop.quit()
        return result

    zero, two, all_ = await in_thread(run)
    assert zero[1] == [*header, b""]
    assert two[1] == [*header, b"", b"line 1", b".line 2"]
    assert all_[1] == [*header, b"", b"line 1", b".line 2", b"line 3"]


async def test_dele_rset_and_out_of_range(server, account):
    await fill(server, account, [message(1), message(2)])
    wire = await Wire.open(server)
    await wire.login()
    assert await wire.cmd(b"DELE 1") == b"+OK message 1 deleted\r\n"
    assert await wire.cmd(b"DELE 1") == replies.MESSAGE_DELETED
    assert await wire.cmd(b"RETR 1") == replies.MESSAGE_DELETED
    assert await wire.cmd(b"TOP 1 0") == replies.MESSAGE_DELETED
    assert await wire.cmd(b"LIST 1") == replies.MESSAGE_DELETED
    assert await wire.cmd(b"UIDL 1") == replies.MESSAGE_DELETED
    assert (await wire.cmd(b"STAT")).startswith(b"+OK 1 ")
    assert (await wire.cmd(b"LIST")).startswith(b"+OK 1 messages")
    assert [line.split()[0] for line in await wire.body()] == [b"2"]
    for line in (b"RETR 3", b"DELE 3", b"LIST 3", b"UIDL 99", b"TOP 3 1"):
        assert await wire.cmd(line) == replies.NO_SUCH_MESSAGE
    assert await wire.cmd(b"RETR 0") == b"-ERR message numbers start at 1\r\n"
    assert (await wire.cmd(b"RSET")).startswith(b"+OK maildrop has 2 messages")
    assert (await wire.cmd(b"STAT")).startswith(b"+OK 2 ")
    assert await wire.cmd(b"NOOP") == b"+OK\r\n"
    assert (await wire.cmd(b"QUIT")).startswith(b"+OK")
    assert await wire.closed()
    assert len(await stored(server, account)) == 2  # default: keep


async def test_quit_before_login(server):
    wire = await Wire.open(server)
    assert (await wire.cmd(b"QUIT")).startswith(b"+OK")
    assert await wire.closed()


async def test_transaction_commands_need_login(server):
    wire = await Wire.open(server)
    for line in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"NOOP", b"RSET", b"TOP 1 1", b"UIDL"):
        assert await wire.cmd(line) == replies.NOT_AUTHENTICATED
    await wire.close()


async def test_uidl_stable_across_sessions_and_new_mail(server, account):
    await fill(server, account, [message(1), message(2)])

    def uidls():
        pop = login(server)
        result = pop.uidl()[1]
        pop.quit()
        return [line.split()[1] for line in result]

    first = await in_thread(uidls)
    await fill(server, account, [message(3)])
    second = await in_thread(uidls)
    assert second[:2] == first and len(set(second)) == 3


async def test_poplib_error_on_missing_message(server, account):
    def run():
        pop = login(server)
        with pytest.raises(poplib.error_proto):
            pop.retr(1)
        pop.quit()

    await in_thread(run)
