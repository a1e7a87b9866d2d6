"""Webmail: folders and counts, paging by date, reading (plain and sanitised
HTML), attachments, move (restore from Trash), delete, search across folders."""

from __future__ import annotations

import html as htmllib
import re

from postfach.store.records import Uid
from postfach.web.webmail import PAGE_SIZE

from .webhelpers import csrf_of, make_message, put, sign_in

HOSTILE_HTML = """<html><head><title>x</title><script>window.parent.pwned = 1</script>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<base href="https://evil.example/"></head>
<body onload="alert(1)"><h1 onclick="alert(2)">Offer</h1>
<img src="x" onerror="alert(3)"><img src="https://tracker.example/pixel.gif" alt="pixel">
<a href="javascript:alert(4)">click</a> <a href="https://ok.example/">fine link</a>
<svg><script>alert(5)</script></svg><iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="pw"></form>
<object data="x.swf"></object><embed src="x.swf">
<p style="background:url(https://tracker.example/bg.gif)">styled</p>
<math><mtext><table><mglyph><style><img src=x onerror=alert(6)></style></mglyph></table>
</mtext></math>
</body></html>"""


async def signed_in(web):
    await sign_in(web.client, "alice@example.org")
    return web.client


def srcdoc(page_html: str) -> str:
    match = re.search(r'srcdoc="([^"]*)"', page_html)
    assert match, "no message frame"
    return htmllib.unescape(match.group(1))


async def test_folders_with_counts(web):
    await put(web.ctx, web.alice, "INBOX", make_message("one"))
    await put(web.ctx, web.alice, "INBOX", make_message("two"), frozenset({"\\Seen"}))
    await put(web.ctx, web.alice, "Trash", make_message("three"))
    await web.ctx.store.mailboxes.create_mailbox(web.alice.id, "Projects/2024")
    client = await signed_in(web)
    page = (await client.get("/mail")).text
    assert re.search(r'box=INBOX">INBOX</a>\s*<span class="count"><b>1</b> / 2</span>', page)
    assert re.search(r'box=Trash">Trash</a>\s*<span class="count"><b>1</b> / 1</span>', page)
    assert 'class="depth-1' in page and ">2024</a>" in page
    assert "one" in page and "two" in page and "three" not in page


async def test_message_list_is_paged_newest_first(web):
    for n in range(PAGE_SIZE + 5):
        await put(web.ctx, web.alice, "INBOX", make_message(f"message {n:03}"), when=1e9 + n)
    client = await signed_in(web)
    first = (await client.get("/mail?box=INBOX")).text
    subjects = re.findall(r"message (\d{3})</a>", first)
    assert len(subjects) == PAGE_SIZE
    assert subjects[0] == f"{PAGE_SIZE + 4:03}" and subjects == sorted(subjects, reverse=True)
    assert "Page 1 of 2" in first and "Older" in first
    second = (await client.get("/mail?box=INBOX&page=2")).text
    assert re.findall(r"message (\d{3})</a>", second) == ["004", "003", "002", "001", "000"]
    assert (await client.get("/mail?box=INBOX&page=99")).status_code == 200
    assert (await client.get("/mail?box=INBOX&page=-1")).status_code == 200


async def test_reading_plain_text_marks_it_read(web):
    uid = await put(web.ctx, web.alice, "INBOX", make_message("Plain", "Hello <b>there</b>\nBye"))
    client = await signed_in(web)
    page = await client.get(f"/mail/message?box=INBOX&uid={uid}")
    assert page.status_code == 200
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in page.text  # escaped, in a <pre>
    assert "Alice Example &lt;alice@example.net&gt;" in page.text
    inbox = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "INBOX")
    [stored] = await web.ctx.store.mail.get_messages(inbox.id, [uid])
    assert "\\Seen" in stored.flags


async def test_html_mail_is_sanitised_and_framed(web):
    raw = make_message("Hostile", "plain alternative", html=HOSTILE_HTML)
    uid = await put(web.ctx, web.alice, "INBOX", raw)
    client = await signed_in(web)
    page = await client.get(f"/mail/message?box=INBOX&uid={uid}")
    assert page.status_code == 200
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
    assert "allow-scripts" not in page.text and "allow-same-origin" not in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "img-src 'self' data:;" in policy
    document = srcdoc(page.text)
    lowered = document.lower()
    for bad in ("<script", "onload", "onclick", "onerror", "javascript:", "<iframe", "<form",
                "<object", "<embed", "<base", "http-equiv=\"refresh\"", "tracker.example",
                "evil.example"):  # fmt: skip
        assert bad not in lowered, bad
    assert "default-src 'none'" in document  # the frame's own policy
    assert 'href="https://ok.example/"' in document and 'target="_blank"' in document
    assert "Offer" in document and "styled" in document
    assert "2 remote image(s) blocked" in page.text
    # Asked for: remote images come back, still without scripts.
    shown = await client.get(f"/mail/message?box=INBOX&uid={uid}&images=1")
    document = srcdoc(shown.text)
    assert "https://tracker.example/pixel.gif" in document and "<script" not in document.lower()
    assert "img-src 'self' data: http: https:" in shown.headers["content-security-policy"]
    # The plain alternative on request.
    plain = await client.get(f"/mail/message?box=INBOX&uid={uid}&view=text")
    assert "plain alternative" in plain.text and "srcdoc" not in plain.text


CSS_TRICKS_HTML = """<html><head><style>
@import "https://tracker.example/a.css";
p.one { background: url( 'https://tracker.example/one.gif' ) }
p.two { background-image: -webkit-image-set("https://tracker.example/two.gif" 1x) }
p.three { background: u\\72l(https://tracker.example/three.gif) }
p.four { background: url(data:image/png;base64,iVBORw0KGgo=) }
</style></head><body>
<p class="one">one</p><p class="two">two</p><p class="three">three</p>
<p style="background:\\75 rl(https://tracker.example/attr.gif)">attr</p>
<p style="color: green">plain</p>
</body></html>"""


async def test_remote_loads_in_css_are_taken_out_and_counted(web):
    """url(), image-set(), @import and escaped url( in <style> and style= never
    reach the frame unless asked for, and the notice counts each of them."""
    raw = make_message("Styled tracker", "plain alternative", html=CSS_TRICKS_HTML)
    uid = await put(web.ctx, web.alice, "INBOX", raw)
    client = await signed_in(web)
    page = await client.get(f"/mail/message?box=INBOX&uid={uid}")
    document = srcdoc(page.text)
    assert "tracker.example" not in document and "@import" not in document
    assert "data:image/png;base64,iVBORw0KGgo=" in document and "color: green" in document
    assert "5 remote image(s) blocked" in page.text
    shown = srcdoc((await client.get(f"/mail/message?box=INBOX&uid={uid}&images=1")).text)
    for name in ("one.gif", "two.gif", "three.gif", "attr.gif"):
        assert f"https://tracker.example/{name}" in shown, name
    assert "a.css" not in shown  # a style sheet from elsewhere is never wanted


async def test_inline_cid_images_become_data_urls(web):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.net", "alice@example.org", "cid"
    msg.set_content("text")
    msg.add_alternative('<p>logo <img src="cid:logo@x"></p>', subtype="html")
    msg.get_payload()[1].add_related(b"\x89PNG fake", "image", "png", cid="<logo@x>")
    uid = await put(web.ctx, web.alice, "INBOX", msg.as_bytes())
    client = await signed_in(web)
    document = srcdoc((await client.get(f"/mail/message?box=INBOX&uid={uid}")).text)
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in document


async def test_attachments_download(web):
    data = bytes(range(256)) * 4
    raw = make_message(
        "With file", "see attached", attachment=("Bericht März.pdf", data, "application/pdf")
    )
    uid = await put(web.ctx, web.alice, "INBOX", raw)
    client = await signed_in(web)
    page = (await client.get(f"/mail/message?box=INBOX&uid={uid}")).text
    link = re.search(r'href="(/mail/part\?[^"]+)">Bericht März.pdf</a>', page)
    assert link, page
    response = await client.get(htmllib.unescape(link.group(1)))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert (
        disposition.startswith("attachment;")
        and "filename*=UTF-8''Bericht%20M%C3%A4rz.pdf" in disposition
    )
    assert "sandbox" in response.headers["content-security-policy"]
    for bad in ("part=9", "part=1.9.9", "part=x", "part=", "part=1..2"):
        assert (await client.get(f"/mail/part?box=INBOX&uid={uid}&{bad}")).status_code == 404


async def test_text_attachments_are_never_served_as_html(web):
    raw = make_message(
        "html file", "x", attachment=("page.html", b"<script>alert(1)</script>", "text/html")
    )
    uid = await put(web.ctx, web.alice, "INBOX", raw)
    client = await signed_in(web)
    response = await client.get(f"/mail/part?box=INBOX&uid={uid}&part=2")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")


async def test_move_several_and_restore_from_trash(web):
    uids = [await put(web.ctx, web.alice, "Trash", make_message(f"deleted {n}")) for n in range(3)]
    client = await signed_in(web)
    page = await client.get("/mail?box=Trash")
    token = csrf_of(page.text)
    response = await client.post(
        "/mail/move", data={"csrf": token, "box": "Trash", "target": "INBOX", "uid": uids[:2]}
    )
    assert response.status_code == 303
    assert "moved=2" in response.headers["location"]
    follow = await client.get(response.headers["location"])
    assert "Moved 2 message(s) to INBOX." in follow.text
    inbox = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "INBOX")
    trash = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "Trash")
    assert len(await web.ctx.store.mail.message_index(inbox.id)) == 2
    assert [m.uid for m in await web.ctx.store.mail.message_index(trash.id)] == [uids[2]]


async def test_move_is_seen_by_watchers_at_once(web):
    uid = await put(web.ctx, web.alice, "Trash", make_message("restore me"))
    client = await signed_in(web)
    token = csrf_of((await client.get("/mail?box=Trash")).text)
    with web.ctx.store.hub.watch(web.alice.id) as changes:
        await client.post(
            "/mail/move", data={"csrf": token, "box": "Trash", "target": "INBOX", "uid": uid}
        )
        kinds = {type(changes.get_nowait()).__name__ for _ in range(changes.qsize())}
    assert {"ChangeAddUid", "ChangeExpunge"} <= kinds


async def test_delete_moves_to_trash_then_for_good(web):
    uid = await put(web.ctx, web.alice, "INBOX", make_message("bye"))
    client = await signed_in(web)
    token = csrf_of((await client.get("/mail")).text)
    response = await client.post("/mail/delete", data={"csrf": token, "box": "INBOX", "uid": uid})
    assert "trashed=1" in response.headers["location"]
    trash = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "Trash")
    [meta] = await web.ctx.store.mail.message_index(trash.id)
    response = await client.post(
        "/mail/delete", data={"csrf": token, "box": "Trash", "uid": meta.uid}
    )
    assert "deleted=1" in response.headers["location"]
    assert await web.ctx.store.mail.message_index(trash.id) == []


async def test_move_and_delete_need_csrf(web):
    uid = await put(web.ctx, web.alice, "INBOX", make_message("keep"))
    client = await signed_in(web)
    for path in ("/mail/move", "/mail/delete"):
        response = await client.post(path, data={"box": "INBOX", "target": "Trash", "uid": uid})
        assert response.status_code == 403
    inbox = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "INBOX")
    assert [m.uid for m in await web.ctx.store.mail.message_index(inbox.id)] == [uid]


async def test_search_across_folders(web):
    await put(web.ctx, web.alice, "INBOX", make_message("Quarterly report", "numbers"))
    await put(web.ctx, web.alice, "Trash", make_message("Old", "the quarterly figures"))
    await put(
        web.ctx,
        web.alice,
        "Spam",
        make_message("Win", "nothing", sender="Lottery <win@spam.example>"),
    )
    client = await signed_in(web)
    page = (await client.get("/mail/search?q=quarterly")).text
    assert "Quarterly report" in page and ">Old</a>" in page and "Win" not in page
    assert "<td>Trash</td>" in page and "<td>INBOX</td>" in page
    page = (await client.get("/mail/search?q=lottery")).text
    assert ">Win</a>" in page and "<td>Spam</td>" in page
    assert "Nothing found." in (await client.get("/mail/search?q=zebra")).text


async def test_unknown_folders_and_messages(web):
    client = await signed_in(web)
    assert (await client.get("/mail?box=Nope")).status_code == 404
    assert (await client.get("/mail/message?box=INBOX&uid=999")).status_code == 404
    assert (await client.get("/mail/message?box=INBOX&uid=abc")).status_code == 404
    token = csrf_of((await client.get("/mail")).text)
    response = await client.post(
        "/mail/move", data={"csrf": token, "box": "INBOX", "target": "Nope", "uid": 1}
    )
    assert response.status_code == 404


async def test_uids_of_no_message_change_nothing(web):
    uid = await put(web.ctx, web.alice, "INBOX", make_message("stay"))
    client = await signed_in(web)
    token = csrf_of((await client.get("/mail")).text)
    response = await client.post(
        "/mail/move",
        data={"csrf": token, "box": "INBOX", "target": "Trash", "uid": ["999", "x", "-1"]},
    )
    assert "moved=0" in response.headers["location"]
    inbox = await web.ctx.store.mailboxes.get_mailbox(web.alice.id, "INBOX")
    assert [m.uid for m in await web.ctx.store.mail.message_index(inbox.id)] == [Uid(uid)]


async def test_odd_numbers_in_urls_are_not_found(web):
    client = await signed_in(web)
    for query in ("uid=²", "uid=1&part=²", "uid=99999999999999999999", "uid=1e3", "uid=%00"):
        response = await client.get(f"/mail/message?box=INBOX&{query}")
        assert response.status_code == 404, query
    assert (await client.get("/mail?box=INBOX&page=²")).status_code == 200
