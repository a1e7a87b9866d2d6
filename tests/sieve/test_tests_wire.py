"""Sieve's tests at delivery, over the wire: envelope, body, variables,
relational, subaddress, date and index, comparators; reject and ereject at SMTP
time and as a report; a failing script keeps the message and logs why."""

from __future__ import annotations

import email
import logging
import smtplib

import pytest

from .sievewire import BOB, CAROL, SieveServer, message


async def subjects(sieve: SieveServer, folder: str) -> list[str]:
    return [m.message["Subject"] for m in await sieve.folder(folder)]


async def test_envelope_and_subaddress(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["envelope", "subaddress", "fileinto", "mailbox"];\n'
        'if envelope :detail "to" "lists" { fileinto :create "Lists"; stop; }\n'
        'if envelope :user "to" "bob" { if envelope :domain "from" "sender.test" {\n'
        '    fileinto :create "FromSenderTest"; } }\n'
    )
    # postfach does not split "+detail" itself: an alias leads there.
    await sieve.store.accounts.add_alias("bob+lists@example.org", BOB)
    await sieve.send(message("to the list"), to=["bob+lists@example.org"])
    await sieve.send(message("direct"))
    await sieve.send(message("other domain"), sender="x@else.test")
    assert await subjects(sieve, "Lists") == ["to the list"]
    assert await subjects(sieve, "FromSenderTest") == ["direct"]
    assert await subjects(sieve, "INBOX") == ["other domain"]


async def test_address_header_exists_size_and_comparators(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["fileinto"];\n'
        'if address :localpart :is "from" "ALICE" { fileinto "Trash"; }\n'  # casemap by default
        'elsif address :comparator "i;octet" :is "from" "Bob@Sender.test" { fileinto "Drafts"; }\n'
        'elsif allof (exists ["X-Big", "Subject"], size :over 1K) { fileinto "Sent"; }\n'
        'elsif anyof (not exists "X-Nope", false) { keep; }\n'
    )
    await sieve.send(message("alice"))
    await sieve.send(message("exact case", sender="Bob@Sender.test"))
    await sieve.send(message("wrong case", sender="bob@sender.test"))
    await sieve.send(message("big", "x\r\n" * 600, sender="c@sender.test", extra="X-Big: 1\r\n"))
    assert await subjects(sieve, "Trash") == ["alice"]
    assert await subjects(sieve, "Drafts") == ["exact case"]
    assert await subjects(sieve, "Sent") == ["big"]
    assert await subjects(sieve, "INBOX") == ["wrong case"]


async def test_body_text_raw_and_content(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["body", "fileinto"];\n'
        'if body :content "text/html" :contains "<b>sale</b>" { fileinto "Trash"; stop; }\n'
        'if body :raw :contains "=C3=A4pfel" { fileinto "Drafts"; stop; }\n'
        'if body :text :contains "äpfel" { fileinto "Sent"; stop; }\n'
    )
    html = message(
        "html", '--b\r\nContent-Type: text/html\r\n\r\n<b>sale</b>\r\n--b--',
        extra='MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n',
    )
    quoted = message(
        "qp", "=C3=A4pfel und birnen",
        extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n",
    )
    await sieve.send(html)
    await sieve.send(quoted)
    assert await subjects(sieve, "Trash") == ["html"]
    assert await subjects(sieve, "Drafts") == ["qp"]
    await sieve.script(
        'require ["body", "fileinto"];\n'
        'if body :text :contains "äpfel" { fileinto "Sent"; }\n'
    )
    await sieve.send(quoted)
    assert await subjects(sieve, "Sent") == ["qp"]


async def test_variables_and_match_variables(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["variables", "fileinto", "mailbox"];\n'
        'if header :matches "List-Id" "*<*.*>" { set :lower :upperfirst "list" "${2}";\n'
        '    fileinto :create "Lists/${list}"; stop; }\n'
        'set "greeting" "hello";\n'
        'if string :is "${greeting} world" "hello world" {\n'
        '    if header :matches "subject" "[*] *" { fileinto :create "Tag-${1}"; } }\n'
    )
    await sieve.send(message("news", extra="List-Id: The Devs <DEVS.lists.example.net>\r\n"))
    await sieve.send(message("[urgent] call me"))
    assert await subjects(sieve, "Lists/Devs") == ["news"]
    assert await subjects(sieve, "Tag-urgent") == ["[urgent] call me"]


async def test_relational_count_and_value(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["relational", "comparator-i;ascii-numeric", "fileinto"];\n'
        'if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" {\n'
        '    fileinto "Trash"; stop; }\n'
        'if header :value "gt" :comparator "i;ascii-numeric" "X-Priority" "3" {\n'
        '    fileinto "Drafts"; }\n'
    )
    await sieve.send(message("many", extra="Cc: a@x.test, b@x.test\r\n"))
    await sieve.send(message("low", extra="X-Priority: 5\r\n"))
    await sieve.send(message("high", extra="X-Priority: 1\r\n"))
    assert await subjects(sieve, "Trash") == ["many"]
    assert await subjects(sieve, "Drafts") == ["low"]
    assert await subjects(sieve, "INBOX") == ["high"]


async def test_date_and_index(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["date", "index", "relational", "fileinto", "imap4flags"];\n'
        'if date :zone "+0100" "date" "hour" "18" { fileinto "Trash"; }\n'
        'if date :originalzone "date" "weekday" "0" { fileinto "Drafts"; }\n'
        'if header :index 1 :last :contains "Received" "first-hop" { fileinto "Sent"; }\n'
        'if header :index 1 :contains "Received" "first-hop" { fileinto "Junk-ish"; }\n'
        'if currentdate :value "ge" "year" "2000" { addflag "$Now"; keep; }\n'
    )
    # Sun, 06 Dec 2026 17:00:00 +0000 is 18:00 at +0100 and a Sunday (weekday 0).
    await sieve.send(message("dated", extra="Received: from first-hop\r\n"))
    assert await subjects(sieve, "Trash") == ["dated"]
    assert await subjects(sieve, "Drafts") == ["dated"]
    assert await subjects(sieve, "Sent") == ["dated"]
    [kept] = await sieve.folder()
    assert kept.flags == {"$Now"}


async def test_reject_at_smtp_time(sieve: SieveServer) -> None:
    await sieve.script(
        'require "reject";\nif header :contains "subject" "offer" {\n'
        '    reject text:\nNo offers, thank you.\nGo away.\n.\n;\n}\n'
    )
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await sieve.send(message("a great offer"))
    assert (refused.value.smtp_code, refused.value.smtp_error) == (
        550, b"5.7.1 No offers, thank you. Go away."
    )  # fmt: skip
    assert await sieve.folder() == []
    await sieve.send(message("a letter"))
    assert await subjects(sieve, "INBOX") == ["a letter"]


async def test_ereject_with_another_recipient_is_a_report(sieve: SieveServer) -> None:
    await sieve.script('require "ereject"; ereject "Not here.";')
    await sieve.send(message("two of us"), sender="alice@example.net", to=[BOB, CAROL])
    assert await sieve.folder() == []
    [carols] = await sieve.folder(address=CAROL)
    assert carols.message["Subject"] == "two of us"
    [report] = await sieve.sunk()
    assert report.mail_from == "<>" and report.rcpt == "alice@example.net"
    text = report.data.decode()
    assert "Status: 5.7.1" in text and "550 5.7.1 Not here." in text
    assert f"Final-Recipient: rfc822; {BOB}" in text


async def test_reject_outside_smtp_bounces(sieve: SieveServer) -> None:
    await sieve.script('require "reject"; reject "Closed.";')
    delivery = sieve.server.ctx.delivery
    statuses = await delivery.deliver(message("queued"), "alice@example.net", [BOB])
    assert statuses[BOB].value == "delivered"  # handled: the sender gets a report
    [report] = await sieve.sunk()
    assert "550 5.7.1 Closed." in report.data.decode()
    assert await sieve.folder() == []


async def test_a_failing_script_keeps_and_logs(
    sieve: SieveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Two rejects cannot both run (RFC 5429 §2.3): a runtime error.
    await sieve.script('require ["reject", "fileinto"]; fileinto "Trash"; reject "no";')
    with caplog.at_level(logging.WARNING, logger="postfach.sieve_delivery"):
        await sieve.send(message("kept anyway"))
    assert await subjects(sieve, "INBOX") == ["kept anyway"]
    assert await sieve.folder("Trash") == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "postfach.sieve_delivery"]
    assert line.startswith(f"sieve: {BOB}: script 'main' failed (line 1, column ")
    assert "reject cannot go with keep, fileinto or vacation" in line


async def test_a_stored_script_that_no_longer_compiles_keeps(sieve: SieveServer) -> None:
    account = await sieve.store.accounts.get_account(BOB)
    await sieve.store.sieve.put_script(account.id, "broken", 'fileinto "x";')
    await sieve.store.sieve.set_active(account.id, "broken")
    await sieve.send(message("still here"))
    assert await subjects(sieve, "INBOX") == ["still here"]
    assert email  # the module is used by the helpers' messages
