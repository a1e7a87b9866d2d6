"""Sieve at delivery, over the wire: fileinto (:create, mailbox, mailboxexists),
keep, discard, stop, imap4flags, copy, the spam verdict kept for an implicit keep."""

from __future__ import annotations

from .sievewire import SieveServer, message


async def test_without_a_script_mail_lands_in_the_inbox(sieve: SieveServer) -> None:
    await sieve.send(message("plain"))
    [only] = await sieve.folder()
    assert only.message["Subject"] == "plain"


async def test_fileinto_create_flags_and_elsif(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["fileinto", "mailbox", "imap4flags"];\n'
        'if header :contains "subject" "invoice" {\n'
        '    fileinto :create :flags ["\\\\Flagged", "$Invoice"] "Bills";\n'
        '} elsif header :is "subject" "trash me" {\n'
        "    discard;\n"
        "} else {\n"
        '    addflag "\\\\Seen";\n'
        "}\n"
    )
    await sieve.send(message("Your Invoice 42"))
    await sieve.send(message("trash me"))
    await sieve.send(message("something else"))
    [bill] = await sieve.folder("Bills")
    assert bill.message["Subject"] == "Your Invoice 42"
    assert bill.flags == {"\\Flagged", "$Invoice"}
    [kept] = await sieve.folder()
    assert kept.message["Subject"] == "something else"
    assert kept.flags == {"\\Seen"}  # the implicit keep takes the internal flags


async def test_fileinto_without_create_into_a_missing_folder_keeps(sieve: SieveServer) -> None:
    await sieve.script('require "fileinto"; fileinto "Nowhere";')
    await sieve.send(message("lost?"))
    [kept] = await sieve.folder()
    assert kept.message["Subject"] == "lost?"
    assert "Nowhere" not in await sieve.folders()


async def test_mailboxexists_and_copy(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["fileinto", "mailbox", "copy"];\n'
        'if mailboxexists "Trash" { fileinto :copy "Trash"; }\n'
        'if not mailboxexists "Archive2026" { fileinto :copy :create "Archive2026"; }\n'
    )
    await sieve.send(message("copies"))
    assert [m.message["Subject"] for m in await sieve.folder("Trash")] == ["copies"]
    assert [m.message["Subject"] for m in await sieve.folder("Archive2026")] == ["copies"]
    # :copy does not cancel the implicit keep.
    assert [m.message["Subject"] for m in await sieve.folder()] == ["copies"]


async def test_fileinto_twice_and_keep_make_one_copy_each(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["fileinto", "imap4flags"];\n'
        'fileinto :flags "\\\\Seen" "Trash"; fileinto :flags "\\\\Flagged" "Trash";\n'
        'keep; fileinto "INBOX";\n'
    )
    await sieve.send(message("once"))
    [trash] = await sieve.folder("Trash")
    assert trash.flags == {"\\Seen", "\\Flagged"}
    assert len(await sieve.folder()) == 1


async def test_stop_ends_the_script(sieve: SieveServer) -> None:
    await sieve.script('require "fileinto"; if true { stop; } fileinto "Trash";')
    await sieve.send(message("stopped"))
    assert len(await sieve.folder()) == 1
    assert await sieve.folder("Trash") == []


async def test_imap4flags_set_add_remove_hasflag(sieve: SieveServer) -> None:
    await sieve.script(
        'require ["imap4flags", "variables", "fileinto"];\n'
        'setflag "\\\\Seen $A";\n'
        'addflag ["$B", "$C"];\n'
        'removeflag "$A";\n'
        'setflag "mine" "$Mine";\n'
        'if hasflag :is "$b" { addflag "$HadB"; }\n'
        'if hasflag "mine" "$Mine" { fileinto :flags "${mine}" "Trash"; }\n'
        "keep;\n"  # fileinto cancelled the implicit keep; keep takes the internal flags
    )
    await sieve.send(message("flags"))
    [kept] = await sieve.folder()
    assert kept.flags == {"\\Seen", "$B", "$C", "$HadB"}
    [trash] = await sieve.folder("Trash")
    assert trash.flags == {"$Mine"}


async def test_spam_still_goes_to_spam_on_an_implicit_keep(sieve: SieveServer) -> None:
    spammy = message(
        "deal", "x", extra="Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="a.scr"\r\n',
    ).replace(b"Message-ID:", b"X-No-Id:").replace(b"Date:", b"X-No-Date:")
    await sieve.script('require "imap4flags"; addflag "$Seen-By-Sieve";')
    await sieve.send(spammy)
    await sieve.send(message("clean one"))
    [spam] = await sieve.folder("Spam")
    assert spam.message["X-Spam-Status"].startswith("Yes")
    assert spam.flags == {"$Seen-By-Sieve"}
    assert [m.message["Subject"] for m in await sieve.folder()] == ["clean one"]
