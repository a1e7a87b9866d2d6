"""Writing mail on the web pages: compose and send (local and remote), reply
with an attachment, reply to all, forward with the original's attachments,
drafts saved and resumed, a refusal kept as a draft; checked over IMAP and in
the outbound queue."""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib

from .webhelpers import PASSWORD, make_message, page_csrf, put, sign_in


def imap_messages(port: int, user: str, folder: str) -> list[email.message.EmailMessage]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login(user, PASSWORD)
        imap.select(f'"{folder}"', readonly=True)
        _, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        return [
            email.message_from_bytes(item[1], policy=email.policy.default)
            for item in data
            if isinstance(item, tuple)
        ]
    finally:
        imap.logout()


def imap_flags(port: int, user: str, folder: str) -> list[bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login(user, PASSWORD)
        imap.select(f'"{folder}"', readonly=True)
        _, data = imap.fetch("1:*", "(FLAGS)")
        return [line for line in data if line]
    finally:
        imap.logout()


async def messages(web, user: str, folder: str):
    return await asyncio.to_thread(imap_messages, web.server.port("imap"), user, folder)


async def post_compose(client, data: dict[str, str], files=None, path="/mail/compose"):
    csrf = await page_csrf(client, path)
    return await client.post("/mail/compose", data={"csrf": csrf, **data}, files=files or [])


async def test_compose_and_send_to_a_local_user_and_keep_it_in_sent(web):
    await sign_in(web.client, "alice@example.org")
    answer = await post_compose(web.client, {
        "do": "send", "sender": "alice@example.org", "to": "Bob <bob@example.org>",
        "bcc": "alice@example.org", "subject": "Grüße aus dem Web", "body": "Hallo Bob,\nbis bald.",
    })  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/mail?box=INBOX&sent=1"
    assert "Sent." in (await web.client.get(answer.headers["location"])).text
    [received] = await messages(web, "bob@example.org", "INBOX")
    assert received["Subject"] == "Grüße aus dem Web" and received["From"] == "alice@example.org"
    assert "Bcc" not in received and "bis bald." in received.get_content()
    assert "with HTTP" in received["Received"]
    [copy] = await messages(web, "alice@example.org", "Sent")
    assert copy["Message-ID"] == received["Message-ID"]
    # Bcc: alice got it too, without the Bcc header.
    [own] = await messages(web, "alice@example.org", "INBOX")
    assert own["Message-ID"] == received["Message-ID"] and "Bcc" not in own


async def test_remote_recipients_go_into_the_outbound_queue(web):
    await sign_in(web.client, "alice@example.org")
    answer = await post_compose(web.client, {
        "do": "send", "to": "carol@example.net", "subject": "Out", "body": "far away",
    })  # fmt: skip
    assert answer.status_code == 303
    [entry] = await web.ctx.store.queue.entries()
    assert entry.sender == "alice@example.org"
    assert [r.address for r in entry.recipients] == ["carol@example.net"]


async def test_reply_with_an_attachment_threads_and_marks_the_original_answered(web):
    original = make_message("Plans", "Shall we meet?", sender="Bob <bob@example.org>",
                            to="alice@example.org")  # fmt: skip
    uid = await put(web.ctx, web.alice, "INBOX", original)
    await sign_in(web.client, "alice@example.org")
    form = await web.client.get(f"/mail/compose?box=INBOX&reply={uid}")
    assert 'value="Re: Plans"' in form.text and 'value="bob@example.org"' in form.text
    assert "&gt; Shall we meet?" in form.text
    answer = await post_compose(
        web.client,
        {"do": "send", "to": "bob@example.org", "subject": "Re: Plans", "body": "Yes, see map.",
         "in_reply_to": _field(form.text, "in_reply_to"),
         "references": _field(form.text, "references"),
         "origin_kind": "reply", "origin_box": "INBOX", "origin_uid": str(uid)},
        files=[("attachment", ("map.pdf", b"%PDF-1.4 fake map", "application/pdf"))],
        path=f"/mail/compose?box=INBOX&reply={uid}",
    )  # fmt: skip
    assert answer.status_code == 303
    [reply] = await messages(web, "bob@example.org", "INBOX")
    assert reply["In-Reply-To"] == email.message_from_bytes(original)["Message-ID"]
    [attachment] = list(reply.iter_attachments())
    assert (
        attachment.get_filename() == "map.pdf" and attachment.get_content() == b"%PDF-1.4 fake map"
    )
    flags = await asyncio.to_thread(
        imap_flags, web.server.port("imap"), "alice@example.org", "INBOX"
    )
    assert b"\\Answered" in flags[0]


def _field(html: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1).replace("&lt;", "<").replace("&gt;", ">")


async def test_reply_all_leaves_out_our_own_address(web):
    original = make_message("Team", "All of us", sender="bob@example.org",
                            to="alice@example.org, dave@example.net")  # fmt: skip
    raw = original.replace(b"To: ", b"Cc: erin@example.net\r\nTo: ", 1)
    uid = await put(web.ctx, web.alice, "INBOX", raw)
    await sign_in(web.client, "alice@example.org")
    form = await web.client.get(f"/mail/compose?box=INBOX&reply={uid}&all=1")
    assert 'name="to" value="bob@example.org"' in form.text
    assert 'name="cc" value="dave@example.net, erin@example.net"' in form.text


async def test_forward_carries_the_attachments_of_the_original(web):
    original = make_message(
        "Report", "See attached.", attachment=("q3.csv", b"a,b\n1,2\n", "text/csv")
    )
    uid = await put(web.ctx, web.alice, "INBOX", original)
    await sign_in(web.client, "alice@example.org")
    form = await web.client.get(f"/mail/compose?box=INBOX&forward={uid}")
    assert 'value="Fwd: Report"' in form.text and "q3.csv" in form.text
    carry = _field(form.text, "carry")
    answer = await post_compose(
        web.client,
        {"do": "send", "to": "bob@example.org", "subject": "Fwd: Report", "body": "FYI",
         "carry": carry, "origin_kind": "forward", "origin_box": "INBOX", "origin_uid": str(uid)},
        path=f"/mail/compose?box=INBOX&forward={uid}",
    )  # fmt: skip
    assert answer.status_code == 303
    [forwarded] = await messages(web, "bob@example.org", "INBOX")
    [attachment] = list(forwarded.iter_attachments())
    assert attachment.get_filename() == "q3.csv" and attachment.get_content() == "a,b\n1,2\n"


async def test_a_draft_is_saved_resumed_replaced_and_gone_once_sent(web):
    await sign_in(web.client, "alice@example.org")
    saved = await post_compose(
        web.client,
        {"do": "save", "to": "bob@example.org", "bcc": "alice@example.org", "subject": "Half done",
         "body": "First lines"},
        files=[("attachment", ("notes.txt", b"some notes", "text/plain"))],
    )  # fmt: skip
    assert saved.status_code == 303 and "saved=1" in saved.headers["location"]
    resumed = await web.client.get(saved.headers["location"])
    assert "Draft saved." in resumed.text and 'value="Half done"' in resumed.text
    assert 'name="bcc" value="alice@example.org"' in resumed.text and "notes.txt" in resumed.text
    [draft] = await messages(web, "alice@example.org", "Drafts")
    assert draft["Bcc"] == "alice@example.org"
    again = await post_compose(
        web.client,
        {"do": "save", "to": "bob@example.org", "subject": "Nearly done", "body": "More lines",
         "draft_uid": _field(resumed.text, "draft_uid"), "carry": _field(resumed.text, "carry")},
        path=saved.headers["location"],
    )  # fmt: skip
    [draft] = await messages(web, "alice@example.org", "Drafts")
    assert draft["Subject"] == "Nearly done" and len(list(draft.iter_attachments())) == 1
    resumed = await web.client.get(again.headers["location"])
    sent = await post_compose(
        web.client,
        {"do": "send", "to": "bob@example.org", "subject": "Done", "body": "All lines",
         "draft_uid": _field(resumed.text, "draft_uid"), "carry": _field(resumed.text, "carry")},
        path=again.headers["location"],
    )  # fmt: skip
    assert sent.status_code == 303
    assert await messages(web, "alice@example.org", "Drafts") == []
    [received] = await messages(web, "bob@example.org", "INBOX")
    assert [a.get_filename() for a in received.iter_attachments()] == ["notes.txt"]


async def test_a_refused_send_says_why_in_the_servers_words_and_keeps_a_draft(web):
    await sign_in(web.client, "alice@example.org")
    answer = await post_compose(web.client, {
        "do": "send", "to": "nobody@example.org", "subject": "Lost?", "body": "hello",
    })  # fmt: skip
    assert answer.status_code == 422
    assert (
        "550 5.1.1 &lt;nobody@example.org&gt;: Recipient address rejected: User unknown"
        in answer.text
    )
    assert "kept in Drafts" in answer.text
    [draft] = await messages(web, "alice@example.org", "Drafts")
    assert draft["Subject"] == "Lost?"
    assert await messages(web, "alice@example.org", "Sent") == []


async def test_sending_needs_the_csrf_token(web):
    await sign_in(web.client, "alice@example.org")
    answer = await web.client.post(
        "/mail/compose", data={"do": "send", "to": "bob@example.org", "body": "x"},
        files=[("attachment", ("a.txt", b"x", "text/plain"))],
    )  # fmt: skip
    assert answer.status_code == 403
    assert await messages(web, "bob@example.org", "INBOX") == []


async def test_folders_are_created_renamed_and_deleted_and_mail_flagged(web):
    await sign_in(web.client, "alice@example.org")
    csrf = await page_csrf(web.client, "/mail/folders")
    made = await web.client.post("/mail/folders/create", data={"csrf": csrf, "name": "Projects"})
    assert made.status_code == 303
    await web.client.post(
        "/mail/folders/create", data={"csrf": csrf, "name": "2026", "parent": "Projects"}
    )
    renamed = await web.client.post(
        "/mail/folders/rename", data={"csrf": csrf, "old": "Projects", "new": "Work"}
    )
    assert "Renamed" in (await web.client.get(renamed.headers["location"])).text
    names = {m.name for m in await web.ctx.store.mailboxes.list_mailboxes(web.alice.id)}
    assert {"Work", "Work/2026"} <= names and "Projects" not in names
    refused = await web.client.post("/mail/folders/delete", data={"csrf": csrf, "name": "INBOX"})
    assert refused.status_code == 422
    await web.client.post("/mail/folders/delete", data={"csrf": csrf, "name": "Work/2026"})
    names = {m.name for m in await web.ctx.store.mailboxes.list_mailboxes(web.alice.id)}
    assert "Work/2026" not in names and "INBOX" in names
    uids = [await put(web.ctx, web.alice, "INBOX", make_message(f"n{i}", "x")) for i in range(3)]
    csrf = await page_csrf(web.client, "/mail?box=INBOX")
    flagged = await web.client.post(
        "/mail/flag",
        data={"csrf": csrf, "box": "INBOX", "flag": "flagged", "uid": [str(u) for u in uids[:2]]},
    )
    assert "marked=2" in flagged.headers["location"]
    await web.client.post(
        "/mail/flag", data={"csrf": csrf, "box": "INBOX", "flag": "seen", "uid": [str(uids[2])]}
    )
    flags = await asyncio.to_thread(
        imap_flags, web.server.port("imap"), "alice@example.org", "INBOX"
    )
    assert [b"\\Flagged" in f for f in flags] == [True, True, False]
    assert [b"\\Seen" in f for f in flags] == [False, False, True]
