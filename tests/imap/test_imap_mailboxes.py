"""CREATE, DELETE, RENAME, SUBSCRIBE, LIST/LSUB (extended, status, special-use), STATUS, QUOTA."""

from __future__ import annotations


async def test_list_standard_folders(wire):
    c = await wire()
    assert await c.ok('LIST "" "*"') == [
        '* LIST (\\HasNoChildren) "/" INBOX',
        '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
        '* LIST (\\HasNoChildren \\Sent) "/" Sent',
        '* LIST (\\HasNoChildren \\Junk) "/" Spam',
        '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    ]
    assert await c.ok('LIST "" ""') == ['* LIST (\\Noselect) "/" ""']


async def test_list_special_use_selection(wire):
    c = await wire()
    lines = await c.ok('LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["Drafts", "Sent", "Spam", "Trash"]


async def test_create_hierarchy_and_children(wire):
    c = await wire()
    await c.ok("CREATE Projects/2024/Q1")
    assert await c.ok('LIST "" "Projects*"') == [
        '* LIST (\\HasChildren) "/" Projects',
        '* LIST (\\HasChildren) "/" Projects/2024',
        '* LIST (\\HasNoChildren) "/" Projects/2024/Q1',
    ]
    assert await c.ok('LIST "Projects/" "%"') == ['* LIST (\\HasChildren) "/" Projects/2024']
    assert await c.no("CREATE Projects") == "NO [ALREADYEXISTS] Mailbox already exists"
    assert await c.no("CREATE inbox") == "NO [ALREADYEXISTS] INBOX exists already"
    assert await c.no('CREATE "a//b"') == "NO [CANNOT] Invalid mailbox name"
    await c.ok("CREATE Trailing/")
    assert await c.ok('LIST "" Trailing') == ['* LIST (\\HasNoChildren) "/" Trailing']


async def test_create_special_use(wire):
    c = await wire()
    await c.ok("CREATE Archive (USE (\\Archive))")
    assert await c.ok('LIST "" Archive') == ['* LIST (\\HasNoChildren \\Archive) "/" Archive']
    assert (
        await c.no("CREATE X (USE (\\Bogus))")
        == "NO [USEATTR] Unsupported special-use attribute \\Bogus"
    )


async def test_international_names(wire):
    c = await wire()
    await c.ok("CREATE &AMQ-bung")
    assert '* LIST (\\HasNoChildren) "/" &AMQ-bung' in await c.ok('LIST "" *')
    await c.ok("ENABLE UTF8=ACCEPT")
    assert '* LIST (\\HasNoChildren) "/" "Äbung"' in await c.ok('LIST "" *')
    await c.ok('SELECT "Äbung"')


async def test_delete_rules(wire):
    c = await wire()
    assert await c.no("DELETE INBOX") == "NO [CANNOT] INBOX cannot be deleted"
    assert await c.no("DELETE Nope") == "NO [NONEXISTENT] No such mailbox"
    await c.ok("CREATE A/B")
    assert await c.no("DELETE A") == "NO [INUSE] Mailbox has children; delete them first"
    await c.ok("DELETE A/B")
    await c.ok("DELETE A")
    assert await c.ok('LIST "" A*') == []


async def test_rename_and_inbox_rename(wire):
    c = await wire()
    await c.ok("CREATE Old/Child")
    await c.ok("RENAME Old New")
    names = [line.rsplit(" ", 1)[1] for line in await c.ok('LIST "" *')]
    assert "New" in names and "New/Child" in names and "Old" not in names
    assert await c.no("RENAME Nope X") == "NO [NONEXISTENT] No such mailbox"
    assert await c.no("RENAME New Sent") == "NO [ALREADYEXISTS] Mailbox already exists"
    await c.ok("APPEND INBOX {5+}\r\nhello")
    await c.ok("RENAME INBOX Saved")
    assert await c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 0)"]
    assert await c.ok("STATUS Saved (MESSAGES)") == ["* STATUS Saved (MESSAGES 1)"]


async def test_subscribe_lsub_and_list_subscribed(wire):
    c = await wire()
    await c.ok("CREATE Work/Reports")
    await c.ok("SUBSCRIBE Work/Reports")
    await c.ok("SUBSCRIBE INBOX")
    assert await c.no("SUBSCRIBE Missing") == "NO [NONEXISTENT] No such mailbox"
    assert await c.ok('LSUB "" *') == ['* LSUB () "/" INBOX', '* LSUB () "/" Work/Reports']
    assert await c.ok('LSUB "" %') == ['* LSUB () "/" INBOX', '* LSUB (\\Noselect) "/" Work']
    assert await c.ok('LIST (SUBSCRIBED) "" *') == [
        '* LIST (\\HasNoChildren \\Subscribed) "/" INBOX',
        '* LIST (\\HasNoChildren \\Subscribed) "/" Work/Reports',
    ]
    assert await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" %') == [
        '* LIST (\\HasNoChildren \\Subscribed) "/" INBOX',
        '* LIST (\\HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))',
    ]
    await c.ok("DELETE Work/Reports")
    assert '* LIST (\\NonExistent \\Subscribed) "/" Work/Reports' in await c.ok(
        'LIST (SUBSCRIBED) "" *'
    )
    await c.ok("UNSUBSCRIBE Work/Reports")
    assert await c.ok('LSUB "" *') == ['* LSUB () "/" INBOX']


async def test_status_and_list_status(wire):
    c = await wire()
    await c.ok("APPEND INBOX (\\Seen) {5+}\r\nhello")
    await c.ok("APPEND INBOX {6+}\r\nhello2")
    [line] = await c.ok(
        "STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT SIZE DELETED HIGHESTMODSEQ)"
    )
    assert line.startswith("* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY ")
    assert "RECENT 2 SIZE 11 DELETED 0 HIGHESTMODSEQ " in line  # no session has seen them
    assert await c.no("STATUS Nope (MESSAGES)") == "NO [NONEXISTENT] No such mailbox"
    assert await c.bad("STATUS INBOX (FOO)") == "BAD unknown status item FOO"
    lines = await c.ok('LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN))')
    assert lines == ['* LIST (\\HasNoChildren) "/" INBOX', "* STATUS INBOX (MESSAGES 2 UNSEEN 1)"]


async def test_quota(imap, wire):
    account = await imap.ctx.store.accounts.get_account("a@example.org")
    await imap.ctx.store.accounts.update_account(account.id, quota_bytes=1024 * 1024)
    c = await wire()
    await c.ok("APPEND INBOX {2048+}\r\n" + "x" * 2048)
    assert await c.ok("GETQUOTAROOT INBOX") == [
        '* QUOTAROOT INBOX ""',
        '* QUOTA "" (STORAGE 2 1024)',
    ]
    assert await c.ok('GETQUOTA ""') == ['* QUOTA "" (STORAGE 2 1024)']
    assert (
        await c.no('SETQUOTA "" (STORAGE 5)') == "NO [NOPERM] Quotas are set by the administrator"
    )


async def test_over_quota_append(imap, wire):
    account = await imap.ctx.store.accounts.get_account("a@example.org")
    await imap.ctx.store.accounts.update_account(account.id, quota_bytes=100)
    c = await wire()
    assert await c.no("APPEND INBOX {200+}\r\n" + "x" * 200) == "NO [OVERQUOTA] Quota exceeded"
