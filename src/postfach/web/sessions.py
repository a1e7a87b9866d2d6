"""Signing in on the web: server-side sessions, cookies and CSRF protection.

- The cookie holds only a random session id; the store keeps its hash, the
  account, the credentials generation and the session's CSRF token
  (store/web.py). "Log out on all devices" (R4) bumps the generation, which
  ends every web session at its next request.
- Cookies are Secure, HttpOnly and SameSite=Lax: the pages are meant for the
  `https` listener (a plain `http` listener redirects there). Browsers accept
  Secure cookies from http://localhost and 127.0.0.1 too; only `serve --dev`
  sets them without Secure, on plain HTTP from a loopback client.
- CSRF: every state-changing form carries the session's token (synchronizer
  token); the sign-in form uses a double-submit cookie, since there is no
  session yet. A request whose Origin names another site is refused as well.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from postfach.store.records import Account
from postfach.store.web import WebSession
from postfach.web.common import client_ip, context, render

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "User",
    "action",
    "begin_session",
    "current_user",
    "end_session",
    "login_token",
    "page",
    "read_form",
    "safe_next",
    "signin_form",
    "same_origin",
    "set_login_cookie",
    "set_private_cookie",
    "drop_private_cookie",
    "tokens_match",
]

SESSION_COOKIE = "postfach_session"
LOGIN_COOKIE = "postfach_login"
SESSION_LIFETIME = 7 * 86400.0
SEEN_INTERVAL = 60.0  # a session's "last used" is written at most this often
MAX_FORM_FIELDS = 2000
MAX_FORM_PART = 64 * 1024


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in account of a request, with its session."""

    account: Account
    session: WebSession
    session_id: str

    @property
    def csrf(self) -> str:
        return self.session.csrf


def _secure(request: Request) -> bool:
    """Secure cookies, except for --dev's plain HTTP on loopback."""
    if request.url.scheme == "https" or not context(request).config.dev:
        return True
    client = request.client
    return client is None or not is_loopback(client.host)


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def _drop_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=_secure(request), httponly=True, samesite="lax")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def current_user(request: Request) -> User | None:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not session_id or len(session_id) > 100:
        return None
    store = context(request).store
    session = await store.web.get_web_session(session_id)
    if session is None:
        return None
    account = await store.accounts.get_account_by_id(session.account_id)
    if account is None or account.credentials_gen != session.generation:
        return None
    if session.last_seen is None or time.time() - session.last_seen > SEEN_INTERVAL:
        await store.web.note_web_session_use(session_id, request.headers.get("user-agent", ""))
    return User(account, session, session_id)


def set_private_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int
) -> None:
    """A cookie only this site's pages send back, never to scripts (there are none)."""
    _cookie(request, response, name, value, max_age)


def drop_private_cookie(request: Request, response: Response, name: str) -> None:
    _drop_cookie(request, response, name)


async def begin_session(request: Request, account: Account, response: Response) -> User:
    """A fresh session id at every sign-in (no fixation)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ip = client_ip(request)
    await context(request).store.web.create_web_session(
        session_id, account.id, account.credentials_gen, csrf, SESSION_LIFETIME, ip
    )
    _cookie(request, response, SESSION_COOKIE, session_id, int(SESSION_LIFETIME))
    _drop_cookie(request, response, LOGIN_COOKIE)
    now = time.time()
    session = WebSession(account.id, account.credentials_gen, csrf, now, now + SESSION_LIFETIME, ip)
    return User(account, session, session_id)


async def end_session(request: Request, response: Response) -> None:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if session_id:
        await context(request).store.web.delete_web_session(session_id)
    _drop_cookie(request, response, SESSION_COOKIE)


def login_token(request: Request) -> str:
    """The double-submit token of the sign-in form: the cookie's, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(32)
    return token


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    _cookie(request, response, LOGIN_COOKIE, token, 3600)


def signin_form(request: Request, template: str, error: str = "", status: int = 200) -> Response:
    """A page of the sign-in steps: its double-submit token in the form and the cookie."""
    token = login_token(request)
    response = render(
        request, template, status=status, error=error, csrf=token,
        next=safe_next(request.query_params.get("next", "/mail")),
    )  # fmt: skip
    set_login_cookie(request, response, token)
    return response


def safe_next(target: str) -> str:
    """Only a path on this site (never "//other.site" or a full URL)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/mail"


def tokens_match(expected: str, given: object) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART)


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


PageHandler = Callable[[Request, User], Awaitable[Response]]
ActionHandler = Callable[[Request, User, FormData], Awaitable[Response]]


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A GET page for signed-in users; others are sent to the sign-in page."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        user = await current_user(request)
        if user is None:
            return _to_login(request)
        return await handler(request, user)

    return endpoint


def action(handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
    """A POST for signed-in users, with the session's CSRF token checked."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        user = await current_user(request)
        if user is None:
            return _to_login(request)
        form = await read_form(request)
        if not same_origin(request) or not tokens_match(user.csrf, form.get("csrf")):
            return PlainTextResponse("The form had expired; go back and try again.", 403)
        return await handler(request, user, form)

    return endpoint
