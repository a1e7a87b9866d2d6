"""Two-factor sign-in on the web pages (R2): TOTP enrolled on the "Password
and sign-in" page, recovery codes shown once, and the second step of signing in.

Signing in with 2FA on is two requests: the password (account.login) makes a
pending sign-in, kept server-side for five minutes and named by a cookie; the
code page finishes it. Five wrong codes end the pending sign-in, and each wrong
code counts as a failed login for the throttle. Turning 2FA on or off bumps the
account's credentials generation: every other session ends, and mail programs
that used the account's password must use app passwords from then on (their
logins are refused with "use an app password").
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.auth.totp import (
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    qr_data_url,
    recovery_digest,
    totp_step,
)
from postfach.store.records import Account
from postfach.web.common import client_ip, context, render
from postfach.web.sessions import (
    LOGIN_COOKIE,
    User,
    action,
    begin_session,
    drop_private_cookie,
    page,
    read_form,
    safe_next,
    same_origin,
    set_private_cookie,
    signin_form,
    tokens_match,
)

__all__ = ["ask_for_code", "routes"]

PENDING_COOKIE = "postfach_2fa"
PENDING_LIFETIME = 300.0
MAX_CODE_ATTEMPTS = 5
WRONG_CODE = "That code is not right. Type the 6 digits your app shows now, or a recovery code."
EXPIRED = "The sign-in had expired; please sign in again."


async def ask_for_code(request: Request, account: Account, target: str) -> Response:
    """The password was right and 2FA is on: a pending sign-in, and the code page."""
    login_id = secrets.token_urlsafe(32)
    await context(request).store.signin.create_pending_login(
        login_id, account.id, account.credentials_gen, PENDING_LIFETIME
    )
    response = RedirectResponse(f"/login/code?next={_quote(target)}", status_code=303)
    set_private_cookie(request, response, PENDING_COOKIE, login_id, int(PENDING_LIFETIME))
    return response


def _quote(target: str) -> str:
    return quote(safe_next(target), safe="")


def _code_page(request: Request, error: str = "", status: int = 200) -> Response:
    return signin_form(request, "login_code.html", error, status)


async def code_form(request: Request) -> Response:
    return _code_page(request)


async def check_code(request: Request) -> Response:
    ctx = context(request)
    form = await read_form(request)
    if not same_origin(request) or not tokens_match(
        request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf")
    ):
        return _code_page(request, "The sign-in form had expired; please try again.", 403)
    login_id = request.cookies.get(PENDING_COOKIE, "")
    pending = await ctx.store.signin.pending_login(login_id) if 0 < len(login_id) <= 100 else None
    account = await ctx.store.accounts.get_account_by_id(pending.account_id) if pending else None
    if pending is None or account is None or account.credentials_gen != pending.generation:
        return RedirectResponse("/login?expired=1", status_code=303)
    ip = client_ip(request)
    if ctx.auth.second_factor_held(account.address, ip):
        await ctx.store.signin.end_pending_login(login_id)
        return RedirectResponse("/login?expired=1", status_code=303)
    if not await _second_factor_ok(request, account, str(form.get("code", ""))[:64]):
        ctx.auth.second_factor_failed(account.address, ip)
        if await ctx.store.signin.count_failed_code(login_id) >= MAX_CODE_ATTEMPTS:
            await ctx.store.signin.end_pending_login(login_id)
            return RedirectResponse("/login?expired=1", status_code=303)
        return _code_page(request, WRONG_CODE, 401)
    await ctx.store.signin.end_pending_login(login_id)
    response = RedirectResponse(safe_next(str(form.get("next", "/mail"))), status_code=303)
    drop_private_cookie(request, response, PENDING_COOKIE)
    await begin_session(request, account, response)
    return response


async def _second_factor_ok(request: Request, account: Account, code: str) -> bool:
    signin = context(request).store.signin
    factor = await signin.second_factor(account.id)
    if factor is None or not factor.enabled:
        return False
    step = totp_step(factor.secret, code)
    if step is not None:
        return await signin.accept_totp_step(account.id, step)
    digest = recovery_digest(code)
    return digest is not None and await signin.use_recovery_code(account.id, digest)


# -- enrolling, on the "Password and sign-in" page --------------------------------


async def _page(
    request: Request, user: User, *, error: str = "", flash: str = "",
    codes: list[str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    ctx = context(request)
    factor = await ctx.store.signin.second_factor(user.account.id)
    qr = secret = ""
    if factor is not None and not factor.enabled:
        uri = provisioning_uri(
            factor.secret, user.account.address, f"postfach {ctx.config.public_name}"
        )
        qr, secret = (
            qr_data_url(uri),
            " ".join(factor.secret[i : i + 4] for i in range(0, len(factor.secret), 4)),
        )
    return render(
        request, "twofactor.html", status=422 if error else status, user=user, csrf=user.csrf,
        factor=factor, qr=qr, secret=secret, codes=codes or [], error=error, flash=flash,
    )  # fmt: skip


@page
async def twofactor_page(request: Request, user: User) -> Response:
    return await _page(request, user)


@action
async def begin(request: Request, user: User, _form: FormData) -> Response:
    await context(request).store.signin.begin_second_factor(user.account.id, new_secret())
    return RedirectResponse("/two-factor", status_code=303)


@action
async def enable(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    factor = await ctx.store.signin.second_factor(user.account.id)
    if factor is None or factor.enabled:
        return RedirectResponse("/two-factor", status_code=303)
    step = totp_step(factor.secret, str(form.get("code", ""))[:64])
    if step is None:
        return await _page(
            request, user, error="That code is not right; type the 6 digits the app shows now."
        )
    codes = new_recovery_codes()
    digests = [d for d in map(recovery_digest, codes) if d]
    if not await ctx.store.signin.enable_second_factor(user.account.id, step, digests):
        return RedirectResponse("/two-factor", status_code=303)
    carrier, renewed = await _renew_session(request, user)
    flash = "Two-factor sign-in is on. Mail programs now need app passwords."
    return _with_cookies(await _page(request, renewed, flash=flash, codes=codes), carrier)


@action
async def disable(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    if not await _password_and_code(request, user, form):
        return await _page(request, user, error="The password or the code is not right.")
    await ctx.store.signin.disable_second_factor(user.account.id)
    carrier, renewed = await _renew_session(request, user)
    return _with_cookies(await _page(request, renewed, flash="Two-factor sign-in is off."), carrier)


@action
async def recovery_codes(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    if not await _password_and_code(request, user, form):
        return await _page(request, user, error="The password or the code is not right.")
    codes = new_recovery_codes()
    digests = [d for d in map(recovery_digest, codes) if d]
    await ctx.store.signin.replace_recovery_codes(user.account.id, digests)
    return await _page(
        request, user, flash="New recovery codes; the old ones no longer work.", codes=codes
    )


async def _password_and_code(request: Request, user: User, form: FormData) -> bool:
    ctx = context(request)
    password = str(form.get("password", ""))[:1024]
    check = await ctx.auth.authenticate(user.account.address, password, "web", client_ip(request))
    if not check.ok:
        return False
    if await _second_factor_ok(request, user.account, str(form.get("code", ""))[:64]):
        return True
    ctx.auth.second_factor_failed(user.account.address, client_ip(request))
    return False


async def _renew_session(request: Request, user: User) -> tuple[Response, User]:
    """Every other session ends (the generation moves on); this browser gets a
    new one, carried by the cookies of the returned response."""
    ctx = context(request)
    await ctx.store.accounts.bump_credentials(user.account.id)
    ctx.auth.forget(user.account.id)
    account = await ctx.store.accounts.get_account_by_id(user.account.id)
    carrier = Response()
    renewed = await begin_session(request, account or user.account, carrier)
    return carrier, renewed


def _with_cookies(page_response: Response, carrier: Response) -> Response:
    for name, value in carrier.raw_headers:
        if name == b"set-cookie":
            page_response.raw_headers.append((name, value))
    return page_response


def routes() -> list[BaseRoute]:
    return [
        Route("/login/code", code_form, methods=["GET"]),
        Route("/login/code", check_code, methods=["POST"]),
        Route("/two-factor", twofactor_page, methods=["GET"]),
        Route("/two-factor/begin", begin, methods=["POST"]),
        Route("/two-factor/enable", enable, methods=["POST"]),
        Route("/two-factor/disable", disable, methods=["POST"]),
        Route("/two-factor/recovery-codes", recovery_codes, methods=["POST"]),
    ]
