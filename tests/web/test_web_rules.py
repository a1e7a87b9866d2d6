"""The Rules page: simple rules and a vacation reply kept as the active Sieve
script, the raw script editor, a script written elsewhere left alone, and mail
over SMTP landing where the rules say (both backends)."""

from __future__ import annotations

import asyncio
import datetime
import email
import imaplib
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from harness import BACKENDS, TestServer, make_server
from postfach.sieve import compile_script
from postfach.web.rulescript import RULES_SCRIPT, Action, Field, from_script
from smtp.outbound import eventually
from support.smtpsink import Sink

from .webhelpers import PASSWORD, client_for, page_csrf, sign_in

ALICE = "alice@example.org"


async def _active(server: TestServer) -> tuple[str, str] | None:
    account = await server.ctx.store.accounts.get_account(ALICE)
    assert account is not None
    return await server.ctx.store.sieve.active_script(account.id)


async def test_rules_and_vacation_become_the_active_script(web):
    client = web.client
    await web.ctx.store.mailboxes.create_mailbox(web.alice.id, "Archive")
    await sign_in(client, ALICE)
    page = await client.get("/rules")
    assert page.status_code == 200 and 'href="/rules"' in page.text and "No rules yet." in page.text
    csrf = await page_csrf(client, "/rules")
    for form in (
        {"field": "from", "contains": "boss@example.net", "action": "move", "folder": "Archive"},
        {"field": "subject", "contains": "newsletter", "action": "read"},
        {"field": "to", "contains": "list@", "action": "delete"},
        {"field": "subject", "contains": "invoice", "action": "forward",
         "address": "accounting@example.net"},
    ):  # fmt: skip
        added = await client.post("/rules", data={"csrf": csrf, **form})
        assert added.status_code == 200 and "Rule added." in added.text, added.text
    vacation = await client.post("/rules/vacation", data={
        "csrf": csrf, "enabled": "on", "start": "2026-12-01", "end": "2026-12-24",
        "subject": "Away", "text": "Back after Christmas.\nAsk Bob.", "days": "3",
    })  # fmt: skip
    assert vacation.status_code == 200 and "Vacation reply on." in vacation.text
    active = await _active(web.server)
    assert active is not None and active[0] == RULES_SCRIPT
    compile_script(active[1])
    rules = from_script(active[1])
    assert rules is not None and [r.action for r in rules.rules] == [
        Action.MOVE, Action.READ, Action.DELETE, Action.FORWARD,
    ]  # fmt: skip
    assert rules.rules[0].field is Field.FROM and rules.rules[0].target == "Archive"
    assert rules.vacation is not None and rules.vacation.days == 3
    assert rules.vacation.end == datetime.date(2026, 12, 24)
    assert 'currentdate :value "le" "date" "2026-12-24"' in active[1]
    shown = (await client.get("/rules")).text
    assert "boss@example.net" in shown and "accounting@example.net" in shown
    assert "Back after Christmas." in shown and 'value="2026-12-01"' in shown
    # Removing a rule, and switching the vacation off keeps its text for next time.
    removed = await client.post("/rules/remove", data={"csrf": csrf, "index": "2"})
    assert removed.status_code == 200 and "list@" not in removed.text
    off = await client.post("/rules/vacation", data={
        "csrf": csrf, "start": "", "end": "", "subject": "Away", "text": "Back soon.", "days": "7",
    })  # fmt: skip
    assert "Vacation reply off." in off.text and "Back soon." in off.text
    active = await _active(web.server)
    assert active is not None and "vacation" not in active[1].split("\n", 2)[2]
    # Switched off elsewhere: the editor still shows the page's script, not an empty one.
    await web.ctx.store.sieve.set_active(web.alice.id, None)
    editor = await client.get("/rules/script")
    assert "boss@example.net" in editor.text and RULES_SCRIPT in editor.text
    # Bob has no script of his own.
    assert await web.ctx.store.sieve.active_script(web.bob.id) is None


async def test_bad_rule_input_is_refused(web):
    client = web.client
    await sign_in(client, ALICE)
    csrf = await page_csrf(client, "/rules")
    for form, words in (
        ({"field": "from", "contains": "", "action": "read"}, "Give the words"),
        ({"field": "from", "contains": "x", "action": "move", "folder": "Nope"}, "your folders"),
        ({"field": "from", "contains": "x", "action": "forward", "address": "no"}, "address"),
        ({"field": "body", "contains": "x", "action": "read"}, "Choose what"),
    ):
        refused = await client.post("/rules", data={"csrf": csrf, **form})
        assert refused.status_code == 422 and words in refused.text, form
    bad_dates = await client.post("/rules/vacation", data={
        "csrf": csrf, "enabled": "on", "start": "2026-12-24", "end": "2026-12-01",
        "subject": "Away", "text": "x", "days": "7",
    })  # fmt: skip
    assert bad_dates.status_code == 422 and "comes before" in bad_dates.text
    forged = await client.post("/rules", data={"csrf": "forged", "field": "from",
                                               "contains": "x", "action": "read"})  # fmt: skip
    assert forged.status_code == 403
    assert await _active(web.server) is None
    other = web.new_client()  # not signed in
    assert (await other.get("/rules")).status_code == 303


async def test_raw_script_editor_shows_the_error_and_keeps_the_text(web):
    client = web.client
    await sign_in(client, ALICE)
    csrf = await page_csrf(client, "/rules/script")
    bad = 'require "fileinto";\nif header :contains "subject" "x" {\n  fileinto "A"\n}\n'
    refused = await client.post("/rules/script", data={"csrf": csrf, "script": bad})
    assert refused.status_code == 422
    assert "Not saved: line 4, column 1:" in refused.text
    assert "fileinto &#34;A&#34;" in refused.text  # the text is still in the form
    assert await _active(web.server) is None
    good = 'require "fileinto";\r\nif header :contains "subject" "x" {\r\n  fileinto "A";\r\n}\r\n'
    saved = await client.post("/rules/script", data={"csrf": csrf, "script": good})
    assert saved.status_code == 200 and "Saved" in saved.text
    active = await _active(web.server)
    assert active == (RULES_SCRIPT, good.replace("\r\n", "\n"))
    # Changed by hand: the rules page says so and does not overwrite it.
    page = await client.get("/rules")
    assert "changed by hand" in page.text and 'action="/rules/vacation"' not in page.text


async def test_script_written_elsewhere_is_not_overwritten(web):
    client = web.client
    sieve = web.ctx.store.sieve
    own = 'require "fileinto";\nfileinto "Archive";\n'
    await sieve.put_script(web.alice.id, "from-thunderbird", own)
    await sieve.set_active(web.alice.id, "from-thunderbird")
    await sign_in(client, ALICE)
    page = await client.get("/rules")
    assert "“from-thunderbird” was written elsewhere" in page.text
    assert 'href="/rules/script"' in page.text
    csrf = await page_csrf(client, "/rules")
    refused = await client.post(
        "/rules", data={"csrf": csrf, "field": "from", "contains": "x", "action": "read"}
    )
    assert refused.status_code == 409
    assert await _active(web.server) == ("from-thunderbird", own)
    editor = await client.get("/rules/script")
    assert "from-thunderbird" in editor.text and "fileinto &#34;Archive&#34;;" in editor.text
    switched = await client.post("/rules/use", data={"csrf": csrf})
    assert "The rules of this page are active now." in switched.text
    active = await _active(web.server)
    assert active is not None and active[0] == RULES_SCRIPT
    assert await sieve.get_script(web.alice.id, "from-thunderbird") == own  # kept, off


# -- mail over SMTP lands where the rules say ----------------------------------------


@pytest.fixture(params=BACKENDS)
async def mail_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[TestServer, Sink]]:
    sink = await Sink().start()
    route = f"127.0.0.1:{sink.port}"
    try:
        async with make_server(
            tmp_path, request.param, transport={"example.net": route, "sender.test": route},
            queue={"retry_base": 0.2},
        ) as server:  # fmt: skip
            account = await server.add_user(ALICE, PASSWORD)
            await server.ctx.store.mailboxes.create_mailbox(account.id, "Work")
            yield server, sink
    finally:
        await sink.stop()


def _message(subject: str, sender: str = "carol@sender.test") -> bytes:
    return (
        f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{abs(hash(subject))}@s.test>\r\n"
        f"\r\nHello.\r\n"
    ).encode()


async def _send(server: TestServer, raw: bytes, sender: str = "carol@sender.test") -> None:
    await aiosmtplib.send(
        raw, sender=sender, recipients=[ALICE], hostname=server.host,
        port=server.port("smtp"), start_tls=False,
    )  # fmt: skip


def _folder(port: int, folder: str) -> list[tuple[str, bytes]]:
    """(subject, flags) of each message in `folder`, over IMAP."""
    client = imaplib.IMAP4("127.0.0.1", port)
    try:
        client.login(ALICE, PASSWORD)
        client.select(folder, readonly=True)
        _, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [
            (str(email.message_from_bytes(part[1])["Subject"]), part[0])
            for part in data
            if isinstance(part, tuple)
        ]
    finally:
        client.logout()


async def test_delivery_follows_the_rules_and_the_vacation(mail_server):
    server, sink = mail_server
    today = datetime.date.today()
    async with client_for(server.ctx) as client:
        await sign_in(client, ALICE)
        csrf = await page_csrf(client, "/rules")
        for form in (
            {"field": "from", "contains": "boss@example.net", "action": "move", "folder": "Work"},
            {"field": "subject", "contains": "newsletter", "action": "read"},
            {"field": "subject", "contains": "junk", "action": "delete"},
            {"field": "subject", "contains": "invoice", "action": "forward",
             "address": "accounting@example.net"},
        ):  # fmt: skip
            assert (await client.post("/rules", data={"csrf": csrf, **form})).status_code == 200
        vacation = await client.post("/rules/vacation", data={
            "csrf": csrf, "enabled": "on", "subject": "Out of office",
            "start": (today - datetime.timedelta(days=1)).isoformat(),
            "end": (today + datetime.timedelta(days=1)).isoformat(),
            "text": "I am away this week.", "days": "7",
        })  # fmt: skip
        assert vacation.status_code == 200
    await _send(server, _message("quarterly plan", "boss@example.net"), "boss@example.net")
    await _send(server, _message("weekly newsletter"))
    await _send(server, _message("cheap junk"))
    await _send(server, _message("invoice 42"))
    port = server.port("imap")
    inbox = dict(await asyncio.to_thread(_folder, port, "INBOX"))
    assert set(inbox) == {"weekly newsletter", "invoice 42"}
    assert b"\\Seen" in inbox["weekly newsletter"] and b"\\Seen" not in inbox["invoice 42"]
    work = await asyncio.to_thread(_folder, port, "Work")
    assert [subject for subject, _ in work] == ["quarterly plan"]

    async def sent() -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}
        for received in sink.received:
            got.setdefault(received.rcpt, []).append(str(received.message["Subject"]))
        return got if {"accounting@example.net", "boss@example.net"} <= set(got) else {}

    out = await eventually(sent)
    assert out["accounting@example.net"] == ["invoice 42"]  # the forwarded copy
    assert out["boss@example.net"] == ["Out of office"]  # the vacation reply
    assert out["carol@sender.test"] == ["Out of office"]  # once per sender, not per message
