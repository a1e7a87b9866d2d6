"""NOTIFY (RFC 5465): a session that set NOTIFY hears of other sessions' changes
without issuing a command: EXISTS, FETCH and EXPUNGE for the selected mailbox, STATUS
for other mailboxes, LIST for folders created, renamed, deleted and (un)subscribed.
The changes are made by a second client (imaplib, in a thread) or on another node of
the same database; NOTIFY NONE and NOTIFICATIONOVERFLOW stop them. Bad syntax and the
RFC's composition rules are BAD, unsupported events NO [BADEVENT]."""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.imap.conftest import PASSWORD, USER
from tests.imap.fuzzlines import answer_each, draw_lines
from tests.imap.messages import SIMPLE, literal

from postfach.imap import notifying
from postfach.imap.commands import Notify
from postfach.imap.lexer import BadSyntax
from postfach.imap.parser import parse_command

SUPPORTED = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange"
NEW_EXPUNGE = "MessageNew MessageExpunge"


async def other(imap: Any, *steps: Callable[[imaplib.IMAP4], Any]) -> None:
    """Runs `steps` in a second session, through imaplib as a mail program would."""

    def run() -> None:
        client = imaplib.IMAP4(imap.host, imap.port("imap"))
        try:
            client.login(USER, PASSWORD)
            for step in steps:
                typ, data = step(client)
                assert typ == "OK", data
        finally:
            client.logout()

    await asyncio.to_thread(run)


def append(mailbox: str) -> Callable[[imaplib.IMAP4], Any]:
    return lambda c: c.append(mailbox, "", None, SIMPLE)


def cmd(name: str, *args: str) -> Callable[[imaplib.IMAP4], Any]:
    return lambda c: getattr(c, name)(*args)


async def lines(c: Any, n: int) -> list[str]:
    """The next `n` lines the server sends on its own (no command was issued)."""
    return [await c.line() for _ in range(n)]


async def silent(c: Any) -> list[str]:
    """What a NOOP reports: nothing when nothing more was pending."""
    return await c.ok("NOOP")


async def test_capability(wire):
    c = await wire()
    (line,) = await c.ok("CAPABILITY")
    assert "NOTIFY" in line.split()


async def test_selected_new_flags_expunge_without_a_command(wire, imap):
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    await c.ok("NOTIFY SET (selected (MessageNew (UID FLAGS ENVELOPE) MessageExpunge FlagChange))")
    await other(imap, append("INBOX"))
    exists, fetch = await lines(c, 2)
    assert exists == "* 2 EXISTS"
    assert fetch.startswith('* 2 FETCH (UID 2 FLAGS () ENVELOPE ("Tue, 02 Jan 2024'), fetch
    await other(imap, cmd("select", "INBOX"), cmd("uid", "STORE", "1", "+FLAGS", "(\\Flagged)"))
    assert await lines(c, 1) == ["* 1 FETCH (UID 1 FLAGS (\\Flagged))"]
    await other(
        imap,
        cmd("select", "INBOX"),
        cmd("uid", "STORE", "1", "+FLAGS.SILENT", "(\\Deleted)"),
        cmd("expunge"),
    )
    assert await lines(c, 2) == ["* 1 FETCH (UID 1 FLAGS (\\Deleted \\Flagged))", "* 1 EXPUNGE"]
    assert await silent(c) == []


async def test_selected_without_flagchange_waits_for_a_command(wire, imap):
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    await c.ok(f"NOTIFY SET (selected ({NEW_EXPUNGE}))")
    await other(imap, cmd("select", "INBOX"), cmd("store", "1", "+FLAGS", "(\\Seen)"))
    await other(imap, append("INBOX"))
    # the flag change waits for a command; the new message does not
    assert await lines(c, 1) == ["* 2 EXISTS"]
    assert await silent(c) == ["* 1 FETCH (UID 1 FLAGS (\\Seen))"]


async def test_selected_delayed_holds_expunges_until_a_command(wire, imap):
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    for _ in range(2):
        await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    await c.ok(f"NOTIFY SET (selected-delayed ({NEW_EXPUNGE}))")
    await other(
        imap,
        cmd("select", "INBOX"),
        cmd("store", "1", "+FLAGS.SILENT", "(\\Deleted)"),
        cmd("expunge"),
    )
    await other(imap, append("INBOX"))
    assert await lines(c, 1) == ["* 3 EXISTS"]  # numbers as the client knows them
    # the flag change comes with the next command, the EXPUNGE not during FETCH
    assert await c.ok("FETCH 1 UID") == ["* 1 FETCH (UID 1 FLAGS (\\Deleted))", "* 1 FETCH (UID 1)"]
    assert await silent(c) == ["* 1 EXPUNGE"]


async def test_status_for_other_mailboxes_and_initial_status(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok(b"APPEND Work " + literal(SIMPLE))
    untagged = await c.ok(f"NOTIFY SET STATUS (mailboxes (INBOX Work) ({NEW_EXPUNGE} FlagChange))")
    assert [re.sub(r"UIDVALIDITY \d+", "UIDVALIDITY V", u) for u in untagged] == [
        "* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0 HIGHESTMODSEQ 1)",
        "* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY V UNSEEN 1 HIGHESTMODSEQ 2)",
    ]
    await other(imap, append("Work"))
    (status,) = await lines(c, 1)
    assert re.fullmatch(
        r"\* STATUS Work \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2 HIGHESTMODSEQ 3\)",
        status,
    ), status
    await other(imap, cmd("select", "Work"), cmd("store", "1:2", "+FLAGS", "(\\Seen)"))
    (status,) = await lines(c, 1)
    assert " UNSEEN 0 " in status, status
    assert await silent(c) == []


async def test_selected_mailbox_gets_no_status(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok("SELECT INBOX")
    untagged = await c.ok(f"NOTIFY SET STATUS (personal ({NEW_EXPUNGE}))")
    names = [u.split(" (")[0] for u in untagged]
    assert "* STATUS Work" in names and "* STATUS Sent" in names
    assert "* STATUS INBOX" not in names
    # INBOX's news only through a selected filter, which this NOTIFY has not
    await other(imap, append("INBOX"), append("Work"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Work (MESSAGES 1 "), status
    assert await silent(c) == ["* 1 EXISTS", "* 1 RECENT"]


async def test_mailboxes_filter_unknown_names_and_none(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok("CREATE Later")
    await c.ok(
        f"NOTIFY SET (mailboxes Later NONE) (mailboxes (Nope Work) ({NEW_EXPUNGE}))"
        f" (personal ({NEW_EXPUNGE}))"
    )
    await other(imap, append("Later"), append("Work"), append("INBOX"))
    first, second = await lines(c, 2)
    assert first.startswith("* STATUS Work (MESSAGES 1 "), first
    assert second.startswith("* STATUS INBOX (MESSAGES 1 "), second
    assert await silent(c) == []


async def test_subtree_filter(wire, imap):
    c = await wire()
    for name in ("Lists", "Lists/a", "Listsx"):
        await c.ok(f"CREATE {name}")
    await c.ok(f"NOTIFY SET (subtree Lists ({NEW_EXPUNGE}))")
    await other(imap, append("Listsx"), append("Lists/a"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Lists/a (MESSAGES 1 "), status


async def test_mailbox_names_and_subscriptions(wire, imap):
    c = await wire()
    await c.ok("NOTIFY SET (personal (MailboxName SubscriptionChange))")
    await other(imap, cmd("create", "Folder"))
    assert await lines(c, 1) == ['* LIST (\\HasNoChildren) "/" Folder']
    await other(imap, cmd("rename", "Folder", "Renamed"))
    assert await lines(c, 1) == ['* LIST (\\HasNoChildren) "/" Renamed ("OLDNAME" (Folder))']
    await other(imap, cmd("subscribe", "Renamed"))
    assert await lines(c, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" Renamed']
    await other(imap, cmd("unsubscribe", "Renamed"))
    assert await lines(c, 1) == ['* LIST (\\HasNoChildren) "/" Renamed']
    await other(imap, cmd("delete", "Renamed"))
    assert await lines(c, 1) == ['* LIST (\\NonExistent) "/" Renamed']
    assert await silent(c) == []


async def test_notify_none_stops_notifications(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok(f"NOTIFY SET (personal ({NEW_EXPUNGE} MailboxName))")
    await other(imap, append("Work"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Work ")
    await c.ok("NOTIFY NONE")
    await other(imap, append("Work"), cmd("create", "Other"))
    assert await silent(c) == []


async def test_overflow_turns_notify_off(wire, imap, monkeypatch):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok(f"NOTIFY SET (personal ({NEW_EXPUNGE}))")
    monkeypatch.setattr(notifying, "MAX_BACKLOG", 0)  # every notification is one too many
    await other(imap, append("Work"))
    (line,) = await lines(c, 1)
    assert line.startswith("* OK [NOTIFICATIONOVERFLOW] ")
    monkeypatch.setattr(notifying, "MAX_BACKLOG", 1 << 20)
    await other(imap, append("Work"))
    assert await silent(c) == []  # as after NOTIFY NONE


async def test_other_node_changes_are_reported(wire, wire_b, imap):
    if not imap.ctx.config.storage.url.startswith("postgresql"):
        pytest.skip("two nodes on one SQLite file share no hub (workers do: tests/workers)")
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    await c.ok("CREATE Work")
    await c.ok("SELECT INBOX")
    await c.ok(f"NOTIFY SET (selected ({NEW_EXPUNGE})) (personal ({NEW_EXPUNGE}))")
    b = await wire_b()
    await b.ok(b"APPEND Work " + literal(SIMPLE))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Work (MESSAGES 1 "), status
    await b.ok(b"APPEND INBOX " + literal(SIMPLE))
    assert await lines(c, 1) == ["* 1 EXISTS"]


async def test_idle_reports_what_notify_asks(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok("SELECT INBOX")
    await c.ok(f"NOTIFY SET (personal ({NEW_EXPUNGE}))")
    await c.send(b"i1 IDLE\r\n")
    assert await c.line() == "+ idling"
    await other(imap, append("INBOX"), append("Work"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Work (MESSAGES 1 "), status
    await c.send(b"DONE\r\n")
    assert await c.until_tagged("i1") == (["* 1 EXISTS", "* 1 RECENT"], "OK IDLE terminated")


BAD = [
    "NOTIFY",
    "NOTIFY SET",
    "NOTIFY BOGUS",
    "NOTIFY NONE extra",
    "NOTIFY SET (selected)",
    "NOTIFY SET (selected ())",
    "NOTIFY SET selected (MessageNew MessageExpunge)",
    "NOTIFY SET (bogus (MessageNew MessageExpunge))",
    "NOTIFY SET (subtree (MessageNew MessageExpunge))",
    "NOTIFY SET (mailboxes () (MessageNew MessageExpunge))",
    "NOTIFY SET (selected (MessageNew))",
    "NOTIFY SET (personal (MessageExpunge))",
    "NOTIFY SET (personal (FlagChange))",
    "NOTIFY SET (personal (MessageNew FlagChange))",
    "NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))",
    f"NOTIFY SET (selected ({NEW_EXPUNGE})) (selected-delayed ({NEW_EXPUNGE}))",
    "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
    "NOTIFY SET (selected (MessageNew () MessageExpunge))",
    "NOTIFY SET (selected (MessageNew (BOGUS) MessageExpunge))",
    "NOTIFY SET STATUS",
]


async def test_bad_syntax_and_composition(wire):
    c = await wire()
    for n, line in enumerate(BAD):
        if n % 10 == 9:
            await c.ok("NOOP")  # the 20th BAD in a row would end the session
        await c.bad(line)
    await c.ok("NOOP")  # the session survives


@pytest.mark.parametrize(
    "events",
    [
        "(personal (MailboxMetadataChange))",
        "(personal (ServerMetadataChange))",
        "(selected (MessageNew MessageExpunge AnnotationChange))",
        "(personal (Frobnicated))",
    ],
)
async def test_unsupported_events_are_badevent(wire, events):
    c = await wire()
    status = await c.no(f"NOTIFY SET {events}")
    assert status.startswith(f"NO [BADEVENT ({SUPPORTED})] "), status


async def test_not_before_login(wire):
    c = await wire(login=False)
    await c.no("NOTIFY NONE")


async def test_case_insensitive_and_set_none_as_snapshot(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    untagged = await c.ok("notify set status (PERSONAL none) (Inboxes (messagenew messageexpunge))")
    assert [u.split(" (")[0] for u in untagged] == []  # the first matching group is NONE
    untagged = await c.ok("NOTIFY SET STATUS (inboxes (messagenew messageexpunge))")
    names = [u.split(" (")[0] for u in untagged]
    assert names[0] == "* STATUS INBOX" and "* STATUS Work" in names


WORDS = st.sampled_from(
    [
        "SET",
        "NONE",
        "STATUS",
        "(",
        ")",
        "selected",
        "selected-delayed",
        "personal",
        "inboxes",
        "subscribed",
        "subtree",
        "mailboxes",
        "INBOX",
        '"a b"',
        "MessageNew",
        "MessageExpunge",
        "FlagChange",
        "AnnotationChange",
        "MailboxName",
        "SubscriptionChange",
        "(UID",
        "BODY.PEEK[HEADER.FIELDS",
        "(FROM)]",
        "{0+}",
    ]
)
ARGS = st.lists(
    WORDS | st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=5),
    max_size=10,
).map(lambda ws: " ".join(ws))


@given(st.binary(max_size=200) | ARGS.map(str.encode))
def test_parser_never_fails_otherwise(data):
    """Any bytes after NOTIFY parse to a command or a BadSyntax, nothing else."""
    try:
        command = parse_command(b"t1 NOTIFY " + data + b"\r\n")
    except BadSyntax as exc:
        assert exc.tag == "t1"
    else:
        assert isinstance(command, Notify)


async def test_live_session_survives_arbitrary_notify(wire):
    c = await wire(select="INBOX")
    await answer_each(c, draw_lines(ARGS), prefix="NOTIFY ")
    await c.ok("NOTIFY NONE")
    await c.ok("NOOP")


async def test_subscribed_filter_follows_the_subscriptions(wire, imap):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok("CREATE Other")
    await c.ok("SUBSCRIBE Work")
    await c.ok(f"NOTIFY SET (subscribed ({NEW_EXPUNGE}))")
    await other(imap, append("Other"), append("Work"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Work (MESSAGES 1 "), status
    await other(imap, cmd("subscribe", "Other"), append("Other"))
    (status,) = await lines(c, 1)
    assert status.startswith("* STATUS Other (MESSAGES 2 "), status
    assert await silent(c) == []


async def test_condstore_status_and_own_changes(wire, imap):
    c = await wire()
    await c.ok("ENABLE CONDSTORE")
    await c.ok("CREATE Work")
    await c.ok(f"NOTIFY SET (mailboxes Work ({NEW_EXPUNGE}))")
    # the session's own change to another mailbox is reported too, before its OK
    untagged = await c.ok(b"APPEND Work " + literal(SIMPLE))
    assert len(untagged) == 1 and untagged[0].startswith("* STATUS Work (MESSAGES 1 "), untagged
    assert untagged[0].endswith(" HIGHESTMODSEQ 2)"), untagged


async def test_logout_says_bye_last(wire):
    c = await wire()
    await c.ok("CREATE Work")
    await c.ok(f"NOTIFY SET (personal ({NEW_EXPUNGE} MailboxName))")
    await c.ok("CREATE Other")  # its own change: reported before its OK
    untagged, status = await c.cmd("LOGOUT")
    assert untagged == ["* BYE Logging out"] and status.startswith("OK"), untagged


async def test_no_messagenew_fetch_for_own_append_or_copy(wire, imap):
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    await c.ok("CREATE Work")
    await c.ok(b"APPEND Work " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    await c.ok("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))")
    assert await c.ok(b"APPEND INBOX " + literal(SIMPLE)) == ["* 1 EXISTS"]
    await c.ok("SELECT Work")
    assert await c.ok("COPY 1 INBOX") == []
    await c.ok("SELECT INBOX")
    await other(imap, append("INBOX"))
    assert await lines(c, 2) == ["* 3 EXISTS", "* 3 FETCH (UID 3 FLAGS ())"]
    assert await silent(c) == []


async def test_search_and_sort_contexts_update_without_a_command(wire, imap):
    """RFC 5465 §7 with RFC 5267: an updating SEARCH or SORT context hears of new and
    expunged messages with the NOTIFY events, no command needed: EXISTS, then the
    context's ADDTO, then the MessageNew FETCH (§5.2); REMOVEFROM before EXPUNGE."""
    c = await wire()
    await c.ok("ENABLE IMAP4rev2")
    await c.ok(b"APPEND INBOX " + literal(SIMPLE))
    await c.ok("SELECT INBOX")
    await c.ok("NOTIFY SET (selected (MessageNew (UID) MessageExpunge))")
    untagged, status = await c.cmd("UID SEARCH RETURN (UPDATE) ALL", tag="S1")
    assert (untagged, status[:2]) == (['* ESEARCH (TAG "S1") UID ALL 1'], "OK")
    untagged, status = await c.cmd("SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL", tag="S2")
    assert (untagged, status[:2]) == (['* ESEARCH (TAG "S2") ALL 1'], "OK")
    await other(imap, append("INBOX"))
    got = await lines(c, 4)
    assert got[0] == "* 2 EXISTS"
    assert sorted(got[1:3]) == [
        '* ESEARCH (TAG "S1") UID ADDTO (0 2)',
        '* ESEARCH (TAG "S2") ADDTO (2 2)',
    ]
    assert got[3] == "* 2 FETCH (UID 2)"
    await other(
        imap,
        cmd("select", "INBOX"),
        cmd("uid", "STORE", "1", "+FLAGS.SILENT", "(\\Deleted)"),
        cmd("expunge"),
    )
    got = await lines(c, 3)
    assert sorted(got[:2]) == [
        '* ESEARCH (TAG "S1") UID REMOVEFROM (0 1)',
        '* ESEARCH (TAG "S2") REMOVEFROM (1 1)',
    ]
    assert got[2] == "* 1 EXPUNGE"
    assert await silent(c) == []
