"""End to end in headless Chromium (Debian's `chromium`, driven by Playwright;
no browser download): what a person does on the pages, checked over POP3 and
IMAP with the stdlib clients. Screenshots go to tests/screenshots/ (ignored by
git). Skipped when /usr/bin/chromium or playwright is missing."""

from __future__ import annotations

import asyncio
import imaplib
import os
import poplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .webhelpers import PASSWORD, make_message, put

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


# `make screenshots` runs these tests at a phone's width too (POSTFACH_SCREENSHOTS=1).
WIDTHS = [1200, 360] if os.environ.get("POSTFACH_SCREENSHOTS") else [1200]


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
async def browser_page(web, request) -> AsyncIterator:
    SHOTS.mkdir(exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(
                base_url=f"http://127.0.0.1:{web.server.port('http')}",
                viewport={"width": request.param, "height": 800},
            )
            page = await context.new_page()
            page.set_default_timeout(10_000)
            yield page
        finally:
            await browser.close()


async def shot(page, name: str) -> None:
    width = page.viewport_size["width"]
    await page.screenshot(path=str(SHOTS / f"{name}-{width}px.png"), full_page=True)


async def sign_in(page, address: str = "alice@example.org", password: str = PASSWORD) -> None:
    await page.goto("/login")
    await shot(page, "01-sign-in")
    await page.fill("input[name=address]", address)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail")


def imap_login(web, user: str, password: str) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", web.server.port("imap"))
    imap.login(user, password)
    return imap


async def test_switch_pop3_off_and_see_a_pop3_login_refused(web, browser_page):
    page = browser_page
    await sign_in(page)
    await shot(page, "02-inbox")

    def pop3_login() -> bytes:
        pop = poplib.POP3("127.0.0.1", web.server.port("pop3"), timeout=10)
        try:
            return pop.user("alice@example.org") + pop.pass_(PASSWORD)
        except poplib.error_proto as exc:
            return exc.args[0]
        finally:
            try:
                pop.quit()
            except (poplib.error_proto, OSError):
                pass

    assert b"+OK" in await asyncio.to_thread(pop3_login)
    await page.click("text=Mail programs")
    await page.uncheck("input[name=pop3_enabled]")
    await page.click("button:text-is('Save')")
    await page.wait_for_selector("text=Saved.")
    await shot(page, "03-mail-programs")
    assert not (await web.ctx.store.accounts.get_account("alice@example.org")).pop3_enabled
    answer = await asyncio.to_thread(pop3_login)
    assert answer == b"-ERR [AUTH] login failure or POP3 disabled"


async def test_move_from_trash_to_inbox_and_see_it_over_imap(web, browser_page):
    await put(web.ctx, web.alice, "Trash", make_message("Please restore me", "important"))
    page = browser_page
    await sign_in(page)
    await page.click(".folders >> text=Trash")
    await page.wait_for_selector("text=Please restore me")
    await page.check("input[name=uid]")
    await page.select_option("select[name=target]", "INBOX")
    await shot(page, "04-trash-selected")
    await page.click("button:text-is('Move')")
    await page.wait_for_selector("text=Moved 1 message(s) to INBOX.")
    await shot(page, "05-restored")

    def imap_search() -> list[bytes]:
        imap = imap_login(web, "alice@example.org", PASSWORD)
        try:
            imap.select("INBOX", readonly=True)
            _, data = imap.search(None, "SUBJECT", '"Please restore me"')
            return data[0].split()
        finally:
            imap.logout()

    assert len(await asyncio.to_thread(imap_search)) == 1


async def test_create_an_app_password_and_log_in_with_it_over_imap(web, browser_page):
    page = browser_page
    await sign_in(page)
    await page.click("text=App passwords")
    await page.fill("input[name=name]", "laptop")
    await page.click("text=Create app password")
    secret = (await page.text_content("#new-password")).strip()
    await shot(page, "06-app-password")
    assert len(secret) == 19

    def imap_with(password: str) -> str:
        imap = imap_login(web, "alice@example.org", password)
        try:
            status, _ = imap.select("INBOX")
            return status
        finally:
            imap.logout()

    assert await asyncio.to_thread(imap_with, secret) == "OK"
    assert await asyncio.to_thread(imap_with, secret.replace("-", "").upper()) == "OK"
    await page.click("button:text-is('Revoke')")
    await page.wait_for_selector("text=No app passwords yet.")
    with pytest.raises(imaplib.IMAP4.error):
        await asyncio.to_thread(imap_with, secret)


async def test_log_out_on_all_devices_ends_an_open_imap_session(web, browser_page):
    page = browser_page
    imap = await asyncio.to_thread(imap_login, web, "alice@example.org", PASSWORD)
    await asyncio.to_thread(imap.select, "INBOX")
    try:
        await sign_in(page)
        await page.click("text=Password & sign-in")
        await shot(page, "07-password-and-sign-in")
        await page.click("button:text-is('Log out on all devices')")
        await page.wait_for_url("**/login")
        await shot(page, "08-logged-out")

        def read_bye() -> bytes:
            imap.sock.settimeout(1.0)  # "within a second" (R4)
            return imap.readline()

        line = await asyncio.to_thread(read_bye)
        assert line.startswith(b"* BYE"), line
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass
    await page.goto("/mail")
    assert "/login" in page.url  # this browser's session is gone too


async def test_hostile_html_mail_runs_no_script(web, browser_page):
    from .test_web_webmail import HOSTILE_HTML

    uid = await put(
        web.ctx, web.alice, "INBOX", make_message("Hostile", "plain", html=HOSTILE_HTML)
    )
    page = browser_page
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    page.on("request", lambda r: requests.append(r.url))
    await sign_in(page)
    await page.goto(f"/mail/message?box=INBOX&uid={uid}")
    await page.wait_for_selector("iframe.body")
    await page.wait_for_timeout(500)
    await shot(page, "09-hostile-html")
    assert dialogs == []
    assert await page.evaluate("typeof window.pwned") == "undefined"
    frame = page.frames[1]
    assert "Offer" in await frame.content()
    assert not [u for u in requests if "tracker.example" in u or "evil.example" in u]
    # Asking for images lets the pixel be fetched, and still no script runs.
    await page.click("text=Show images")
    await page.wait_for_timeout(500)
    assert dialogs == [] and await page.evaluate("typeof window.pwned") == "undefined"


async def test_search_and_read_with_attachment(web, browser_page):
    raw = make_message("Invoice 42", "Please find the invoice attached.",
                       attachment=("invoice.pdf", b"%PDF-1.4 test", "application/pdf"))  # fmt: skip
    await put(web.ctx, web.alice, "Spam", raw)
    page = browser_page
    await sign_in(page)
    await page.fill("input[name=q]", "invoice")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_selector("text=Invoice 42")
    await shot(page, "10-search")
    await page.click("text=Invoice 42")
    await page.wait_for_selector("text=invoice.pdf")
    await shot(page, "11-message")
    async with page.expect_download() as info:
        await page.click("text=invoice.pdf")
    download = await info.value
    assert download.suggested_filename == "invoice.pdf"
    assert Path(await download.path()).read_bytes() == b"%PDF-1.4 test"


PLACEHOLDER_FITS = """() => {
    const input = document.querySelector('.search input');
    const style = getComputedStyle(input);
    const context = document.createElement('canvas').getContext('2d');
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return [context.measureText(input.placeholder).width, room];
}"""


@pytest.mark.parametrize("width", [1200, 360])
async def test_the_inbox_page_at_desktop_and_phone_width(web, browser_page, width):
    """The search box shows its whole placeholder, INBOX leads the folders, the
    page fits the screen, and no request of the page (favicon included) fails."""
    page = browser_page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    await page.set_viewport_size({"width": width, "height": 800})
    await sign_in(page)
    await shot(page, "07-inbox")
    text_width, room = await page.evaluate(PLACEHOLDER_FITS)
    assert text_width <= room, (text_width, room)
    folders = await page.locator(".folders li a").all_text_contents()
    assert folders == ["INBOX", "Drafts", "Sent", "Spam", "Trash"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    favicon = await page.request.get("/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/svg+xml"
    assert failed == []


async def test_turn_on_two_factor_and_sign_in_with_a_code(web, browser_page):
    import time

    import pyotp

    page = browser_page
    await sign_in(page)
    await page.click("text=Password & sign-in")
    await page.click("text=Set it up or change it")
    await page.click("text=Set up two-factor sign-in")
    qr = await page.wait_for_selector("img.qr")
    assert await qr.evaluate("image => image.naturalWidth") > 100  # it renders
    await shot(page, "08-two-factor-setup")
    secret = (await page.text_content("#totp-secret")).replace(" ", "")
    totp = pyotp.TOTP(secret)
    enrolled = time.time()
    await page.fill("input[name=code]", totp.at(enrolled))
    await page.click("text=Turn on")
    await page.wait_for_selector("#recovery-codes")
    await shot(page, "09-recovery-codes")
    await page.click("button:text-is('Sign out')")
    await page.wait_for_url("**/login")
    await page.fill("input[name=address]", "alice@example.org")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/login/code**")
    await shot(page, "10-sign-in-code")
    # A later step than the enrolling one: each step is accepted once.
    await page.fill("input[name=code]", totp.at(enrolled + 30))
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail")
    assert await page.locator(".folders").count() == 1


async def test_write_reply_with_an_attachment_keep_a_draft_search_and_move(web, browser_page):
    page = browser_page
    question = make_message(
        "Lunch on Friday?", "Are you free?", sender="Bob <bob@example.org>", to="alice@example.org"
    )
    await put(web.ctx, web.alice, "INBOX", question)
    await sign_in(page)
    # Write to Bob.
    await page.click("text=Write")
    await page.fill("input[name=to]", "bob@example.org")
    await page.fill("input[name=subject]", "Hello from the web")
    await page.fill("textarea[name=body]", "Written in the browser.")
    await shot(page, "11-compose")
    await page.click("button:text-is('Send')")
    await page.wait_for_selector("text=Sent.")
    # Reply to his question with an attachment.
    await page.click("text=Lunch on Friday?")
    await page.click("a:text-is('Reply')")
    assert await page.input_value("input[name=subject]") == "Re: Lunch on Friday?"
    await page.set_input_files("input[name=attachment]", files=[
        {"name": "menu.txt", "mimeType": "text/plain", "buffer": b"soup, bread"}])  # fmt: skip
    await page.click("button:text-is('Send')")
    await page.wait_for_selector("text=Sent.")
    # A draft, saved and resumed from Drafts.
    await page.click("text=Write")
    await page.fill("input[name=subject]", "Unfinished thoughts")
    await page.fill("textarea[name=body]", "To be continued")
    await page.click("button:text-is('Save draft')")
    await page.wait_for_selector("text=Draft saved.")
    await page.click(".folders >> text=Drafts")
    await page.click("text=Unfinished thoughts")
    assert await page.input_value("textarea[name=body]") == "To be continued"
    await shot(page, "12-draft-resumed")
    # Search, and move what it found.
    await page.fill(".search input", "Lunch")
    await page.click(".search button")
    await page.wait_for_selector("text=Lunch on Friday?")
    await shot(page, "13-search")
    await page.click(".folders >> text=INBOX")
    await page.check("input[name=uid]")
    await page.select_option("select[name=target]", "Trash")
    await page.click("button:text-is('Move')")
    await page.wait_for_selector("text=Moved 1 message(s) to Trash.")

    def bob_inbox() -> list[bytes]:
        imap = imap_login(web, "bob@example.org", PASSWORD)
        try:
            imap.select("INBOX", readonly=True)
            _, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)")
            return [item[1] for item in data if isinstance(item, tuple)]
        finally:
            imap.logout()

    subjects = b"".join(await asyncio.to_thread(bob_inbox))
    assert b"Hello from the web" in subjects and b"Re: Lunch on Friday?" in subjects
    sent = await web.ctx.store.mailboxes.special_mailbox(web.alice.id, "\\Sent")
    assert (await web.ctx.store.mailboxes.mailbox_status(sent.id)).messages == 2


async def test_the_admin_pages_in_the_browser(web, browser_page):
    await web.ctx.store.accounts.update_account(web.alice.id, admin=True)
    page = browser_page
    await sign_in(page)
    await page.click("header >> text=Admin")
    await page.wait_for_selector("#accounts")
    await shot(page, "14-admin")
    await page.fill("#domains input[name=name][type=text]", "shop.example")
    await page.click("button:text-is('Add domain')")
    await page.wait_for_selector("text=Added the domain shop.example.")
    await page.click("text=Newsletters")
    await page.wait_for_selector("#relays")
    await shot(page, "15-newsletters")
