"""The user's own pages: sign in and out, "Mail programs" (per-protocol
switches and the settings table, R3, R12, R13, R27), app passwords (R2), the
password (R5), "Log out on all devices" (R4) and the spam filter (thresholds,
senders always taken or always filed in Spam).

Sign-in goes through the shared Authenticator with protocol "web", so failed
attempts are throttled exactly as for IMAP, POP3 and SMTP, and only the real
password (not an app password) opens the web pages.
"""

from __future__ import annotations

import contextlib
import math

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.auth import AuthFailure
from postfach.auth.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    generate_app_password,
    hash_password_async,
    normalize_app_password,
    password_problem,
)
from postfach.clientsetup.own import own_settings
from postfach.spam.decide import sender_entry
from postfach.store import AlreadyExists, NotFound
from postfach.store.records import Pop3Delete
from postfach.web.autoconfig import mobileconfig
from postfach.web.common import client_ip, context, render
from postfach.web.sessions import (
    LOGIN_COOKIE,
    User,
    action,
    begin_session,
    current_user,
    end_session,
    page,
    read_form,
    safe_next,
    same_origin,
    signin_form,
    tokens_match,
)
from postfach.web.twofactor import ask_for_code

__all__ = ["routes"]

LOGIN_FAILED = "Wrong address or password."
LOGIN_THROTTLED = "Too many failed sign-ins. Wait a few minutes, then try again."
SIGN_IN_AGAIN = "The sign-in had expired or too many codes were wrong; please sign in again."
POP3_DELETE_CHOICES = (
    (Pop3Delete.KEEP, "keep the message on the server"),
    (Pop3Delete.TRASH, "move the message to Trash"),
    (Pop3Delete.EXPUNGE, "delete the message for good"),
)


async def home(request: Request) -> Response:
    target = "/mail" if await current_user(request) else "/login"
    return RedirectResponse(target, status_code=303)


def _login_page(request: Request, error: str = "", status: int = 200) -> Response:
    return signin_form(request, "login.html", error, status)


async def login_form(request: Request) -> Response:
    if await current_user(request):
        return RedirectResponse("/mail", status_code=303)
    if request.query_params.get("expired"):
        return _login_page(request, SIGN_IN_AGAIN)
    return _login_page(request)


async def login(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not same_origin(request) or not tokens_match(expected, form.get("csrf")):
        return _login_page(request, "The sign-in form had expired; please try again.", 403)
    address, password = str(form.get("address", "")), str(form.get("password", ""))
    if not address or not password or len(password) > MAX_PASSWORD:
        return _login_page(request, LOGIN_FAILED, 401)
    result = await context(request).auth.authenticate(address, password, "web", client_ip(request))
    if result.failure is AuthFailure.THROTTLED:
        return _login_page(request, LOGIN_THROTTLED, 429)
    if not result.ok or result.account is None:
        return _login_page(request, LOGIN_FAILED, 401)
    target = safe_next(str(form.get("next", "/mail")))
    if await context(request).store.signin.second_factor_enabled(result.account.id):
        return await ask_for_code(request, result.account, target)
    response = RedirectResponse(target, status_code=303)
    await begin_session(request, result.account, response)
    return response


@action
async def logout(request: Request, _user: User, _form: FormData) -> Response:
    response = RedirectResponse("/login", status_code=303)
    await end_session(request, response)
    return response


# -- mail programs ---------------------------------------------------------------


async def _settings_page(request: Request, user: User, flash: str = "") -> Response:
    ctx = context(request)
    mailboxes = await ctx.store.mailboxes.list_mailboxes(user.account.id)
    return render(
        request, "settings.html", user=user, csrf=user.csrf, flash=flash,
        account=user.account, mailboxes=[m.name for m in mailboxes],
        rows=own_settings(ctx.config, user.account.address, user.account),
        delete_choices=POP3_DELETE_CHOICES,
    )  # fmt: skip


@page
async def settings(request: Request, user: User) -> Response:
    return await _settings_page(request, user)


@action
async def save_settings(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    names = {m.name for m in await store.mailboxes.list_mailboxes(user.account.id)}
    folders = tuple(f for f in map(str, form.getlist("pop3_folders")) if f in names)
    choice = str(form.get("pop3_delete", "keep"))
    account = await store.accounts.update_account(
        user.account.id,
        imap_enabled=form.get("imap_enabled") == "on",
        pop3_enabled=form.get("pop3_enabled") == "on",
        pop3_folders=folders or ("INBOX",),
        pop3_mark_read=form.get("pop3_mark_read") == "on",
        pop3_delete=Pop3Delete(choice) if choice in set(Pop3Delete) else Pop3Delete.KEEP,
        save_sent=form.get("save_sent") == "on",
    )
    updated = User(account, user.session, user.session_id)
    return await _settings_page(request, updated, "Saved.")


@page
async def apple_profile(request: Request, user: User) -> Response:
    body = mobileconfig(context(request).config, user.account.address)
    name = user.account.address.replace("@", "_at_") + ".mobileconfig"
    return Response(
        body,
        media_type="application/x-apple-aspen-config",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- app passwords ---------------------------------------------------------------


async def _app_passwords_page(
    request: Request, user: User, new: tuple[str, str] | None = None, error: str = ""
) -> Response:
    passwords = await context(request).store.accounts.list_app_passwords(user.account.id)
    return render(
        request, "app_passwords.html", status=422 if error else 200, user=user, csrf=user.csrf,
        passwords=passwords, new=new, error=error,
    )  # fmt: skip


@page
async def app_passwords(request: Request, user: User) -> Response:
    return await _app_passwords_page(request, user)


@action
async def create_app_password(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", "")).strip()
    if not name or len(name) > 200:
        return await _app_passwords_page(request, user, error="Give the app password a name.")
    password = generate_app_password()
    digest = await hash_password_async(normalize_app_password(password))
    try:
        await context(request).store.accounts.add_app_password(user.account.id, name, digest)
    except AlreadyExists:
        return await _app_passwords_page(request, user, error=f"“{name}” exists already.")
    return await _app_passwords_page(request, user, new=(name, password))


@action
async def revoke_app_password(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    try:
        await ctx.store.accounts.revoke_app_password(user.account.id, str(form.get("name", "")))
    except NotFound:
        pass
    ctx.auth.forget(user.account.id)
    return RedirectResponse("/app-passwords", status_code=303)


# -- spam filter -----------------------------------------------------------------


async def _spam_page(request: Request, user: User, flash: str = "", error: str = "") -> Response:
    ctx = context(request)
    own = await ctx.store.spam.settings(user.account.id)
    senders = sorted([(e, "allow") for e in own.allow] + [(e, "block") for e in own.block])
    return render(
        request, "spam.html", status=422 if error else 200, user=user, csrf=user.csrf,
        flash=flash, error=error, senders=senders,
        server_file=ctx.config.spam.file_threshold, server_reject=ctx.config.spam.reject_threshold,
        own_file=_shown(own.file_threshold), own_reject=_shown(own.reject_threshold),
    )  # fmt: skip


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _score_field(form: FormData, name: str) -> float | None:
    """Empty: the server's threshold; otherwise a finite number (ValueError)."""
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


@page
async def spam_settings(request: Request, user: User) -> Response:
    return await _spam_page(request, user)


@action
async def save_spam_settings(request: Request, user: User, form: FormData) -> Response:
    try:
        file, reject = _score_field(form, "file_threshold"), _score_field(form, "reject_threshold")
    except ValueError:
        return await _spam_page(request, user, error="A score is a number, such as 5 or 7.5.")
    await context(request).store.spam.set_thresholds(user.account.id, file, reject)
    return await _spam_page(request, user, flash="Saved.")


@action
async def add_spam_sender(request: Request, user: User, form: FormData) -> Response:
    kind = str(form.get("kind", ""))
    try:
        entry = sender_entry(str(form.get("entry", "")))
    except ValueError:
        error = "Give an address (bob@example.net) or a domain (example.net)."
        return await _spam_page(request, user, error=error)
    if kind not in ("allow", "block"):
        return await _spam_page(request, user, error="Choose a list.")
    await context(request).store.spam.set_sender(user.account.id, entry, kind)
    return RedirectResponse("/spam", status_code=303)


@action
async def remove_spam_sender(request: Request, user: User, form: FormData) -> Response:
    with contextlib.suppress(NotFound):
        entry = str(form.get("entry", ""))[:320]
        await context(request).store.spam.remove_sender(user.account.id, entry)
    return RedirectResponse("/spam", status_code=303)


# -- password and sessions -------------------------------------------------------


def _password_page(request: Request, user: User, flash: str = "", error: str = "") -> Response:
    return render(
        request, "password.html", status=422 if error else 200, user=user, csrf=user.csrf,
        flash=flash, error=error, min_length=MIN_PASSWORD,
    )  # fmt: skip


@page
async def password_form(request: Request, user: User) -> Response:
    return _password_page(request, user)


@action
async def change_password(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    current, new = str(form.get("current", "")), str(form.get("new", ""))
    if new != str(form.get("repeat", "")):
        return _password_page(request, user, error="The new passwords differ.")
    problem = password_problem(new)
    if problem is not None:
        return _password_page(request, user, error=problem[0].upper() + problem[1:] + ".")
    check = await ctx.auth.authenticate(user.account.address, current, "web", client_ip(request))
    if check.failure is AuthFailure.THROTTLED:
        return _password_page(request, user, error=LOGIN_THROTTLED)
    if not check.ok:
        return _password_page(request, user, error="The current password is wrong.")
    await ctx.store.accounts.set_password_hash(user.account.id, await hash_password_async(new))
    ctx.auth.forget(user.account.id)
    return _password_page(request, user, flash="Password changed. Mail programs need the new one.")


@action
async def logout_everywhere(request: Request, user: User, _form: FormData) -> Response:
    ctx = context(request)
    await ctx.store.accounts.bump_credentials(user.account.id)
    ctx.auth.forget(user.account.id)
    response = RedirectResponse("/login", status_code=303)
    await end_session(request, response)
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/settings", settings, methods=["GET"]),
        Route("/settings", save_settings, methods=["POST"]),
        Route("/settings/apple.mobileconfig", apple_profile, methods=["GET"]),
        Route("/app-passwords", app_passwords, methods=["GET"]),
        Route("/app-passwords", create_app_password, methods=["POST"]),
        Route("/app-passwords/revoke", revoke_app_password, methods=["POST"]),
        Route("/spam", spam_settings, methods=["GET"]),
        Route("/spam", save_spam_settings, methods=["POST"]),
        Route("/spam/senders", add_spam_sender, methods=["POST"]),
        Route("/spam/senders/remove", remove_spam_sender, methods=["POST"]),
        Route("/password", password_form, methods=["GET"]),
        Route("/password", change_password, methods=["POST"]),
        Route("/logout-everywhere", logout_everywhere, methods=["POST"]),
    ]
