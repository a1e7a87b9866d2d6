"""Vacation (RFC 5230) over the wire: one reply per sender per :days, through
the outbound queue to the sink, with Auto-Submitted and In-Reply-To; never to
lists, bulk, auto-submitted mail, the null sender or the user's own address."""

from __future__ import annotations

import email

from .sievewire import BOB, CAROL, SieveServer, message

AWAY = (
    'require "vacation";\n'
    'vacation :days 3 :subject "Away" :addresses ["bob.alias@example.org"] '
    '"I am away until Monday.";\n'
)


async def test_one_reply_per_sender(sieve: SieveServer) -> None:
    await sieve.script(AWAY)
    await sieve.send(message("first", mid="<m1@example.net>"), sender="alice@example.net")
    await sieve.send(message("second"), sender="alice@example.net")
    await sieve.send(message("from dave"), sender="dave@example.net")
    replies = await sieve.sunk(2)
    assert [(r.mail_from, r.rcpt) for r in replies] == [
        ("<>", "alice@example.net"),
        ("<>", "dave@example.net"),
    ]
    reply = email.message_from_bytes(replies[0].data)
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert reply["Subject"] == "Away"
    assert reply["From"] == BOB and reply["To"] == "alice@example.net"
    assert reply["In-Reply-To"] == "<m1@example.net>"
    assert reply["References"] == "<m1@example.net>"
    assert reply.get_payload(decode=True).decode().strip() == "I am away until Monday."
    # Every message is kept all the same (vacation does not cancel the implicit keep).
    assert len(await sieve.folder()) == 3
    # The second message of alice got no reply: the store remembers for :days.
    await sieve.drained()
    assert len(sieve.sink.received) == 2
    # Another script (another handle) answers alice again.
    await sieve.script(AWAY.replace("Away", "Still away"))
    await sieve.send(message("third"), sender="alice@example.net")
    third = await sieve.sunk(3)
    assert email.message_from_bytes(third[2].data)["Subject"] == "Still away"


async def test_no_reply_to_lists_bulk_robots_or_oneself(sieve: SieveServer) -> None:
    await sieve.script(AWAY)
    refused = [
        ("list", "alice@example.net", "List-Id: <devs.example.net>\r\n"),
        ("unsub", "alice@example.net", "List-Unsubscribe: <mailto:u@example.net>\r\n"),
        ("bulk", "alice@example.net", "Precedence: bulk\r\n"),
        ("junk", "alice@example.net", "Precedence: junk\r\n"),
        ("auto", "alice@example.net", "Auto-Submitted: auto-generated\r\n"),
        ("daemon", "MAILER-DAEMON@example.net", ""),
        ("owner", "owner-devs@example.net", ""),
        ("request", "devs-request@example.net", ""),
    ]
    for subject, sender, extra in refused:
        await sieve.send(message(subject, extra=extra), sender=sender)
    await sieve.send(message("null path"), sender="")
    await sieve.submit(message("to myself", sender=BOB), BOB, [BOB])
    # Not addressed to Bob in To/Cc: a Bcc or a list copy gets no reply either.
    await sieve.send(message("bcc", to="someone@example.net"), sender="erin@example.net")
    # Auto-Submitted: no is a person; an :addresses address in Cc counts as Bob's.
    await sieve.send(message("person", extra="Auto-Submitted: no\r\n"), sender="fay@example.net")
    await sieve.send(
        message("alias", to="x@example.net", extra="Cc: bob.alias@example.org\r\n"),
        sender="gus@example.net",
    )
    await sieve.sunk(2)
    await sieve.drained()
    assert sorted(r.rcpt for r in sieve.sink.received) == ["fay@example.net", "gus@example.net"]
    assert len(await sieve.folder()) == len(refused) + 5


async def test_reply_to_a_local_sender_and_mime(sieve: SieveServer) -> None:
    await sieve.script(
        'require "vacation";\n'
        'vacation :mime :from "Bob <bob@example.org>" :handle "h1" text:\n'
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Bin weg, zurück am Montag.\n"
        ".\n"
        ";\n"
    )
    await sieve.submit(message("hallo", sender=CAROL), CAROL, [BOB])
    [reply] = await sieve.folder(address=CAROL)
    assert reply.message["Subject"] == "Auto: hallo"
    assert reply.message["From"] == "Bob <bob@example.org>"
    assert reply.message.get_payload(decode=True).decode() == "Bin weg, zurück am Montag.\r\n"
    assert reply.message["Return-Path"] == "<>"


async def test_no_reply_to_spam(sieve: SieveServer) -> None:
    await sieve.script(AWAY)
    spammy = message(
        "deal", "x", extra="Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="a.scr"\r\n',
    ).replace(b"Message-ID:", b"X-No-Id:").replace(b"Date:", b"X-No-Date:")
    await sieve.send(spammy, sender="spammer@example.net")
    await sieve.send(message("real"), sender="alice@example.net")
    [reply] = await sieve.sunk()
    await sieve.drained()
    assert reply.rcpt == "alice@example.net" and len(sieve.sink.received) == 1
    [spam] = await sieve.folder("Spam")
    assert spam.message["Subject"] == "deal"
