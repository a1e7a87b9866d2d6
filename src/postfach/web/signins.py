"""The "Sessions" page: where the account is signed in, each ended on its own.

Two lists: the web sessions (started, last used, address, browser), each with
an "End" button, and the mail programs seen in the last 30 days (protocol,
address, the credential they used, first and last use). A program that signs
in with an app password is shut out by revoking that app password; one that
uses the account's password only by changing the password (or turning on
two-factor sign-in), which the page says, since nothing else would hold.
"""

from __future__ import annotations

import time

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.store import NotFound
from postfach.store.web import token_digest
from postfach.web.common import context, render
from postfach.web.sessions import User, action, page

__all__ = ["SEEN_DAYS", "routes"]

SEEN_DAYS = 30


def _browser(user_agent: str) -> str:
    """A short name for a User-Agent: enough to tell one's own devices apart."""
    agent = user_agent.lower()
    for needle, name in (
        ("edg/", "Edge"), ("firefox/", "Firefox"), ("chromium", "Chromium"),
        ("chrome/", "Chrome"), ("safari/", "Safari"), ("curl/", "curl"),
    ):  # fmt: skip
        if needle in agent:
            browser = name
            break
    else:
        return user_agent[:60] or "unknown"
    for needle, system in (
        ("android", "Android"), ("iphone", "iPhone"), ("ipad", "iPad"), ("windows", "Windows"),
        ("mac os", "macOS"), ("linux", "Linux"),
    ):  # fmt: skip
        if needle in agent:
            return f"{browser} on {system}"
    return browser


@page
async def sessions_page(request: Request, user: User) -> Response:
    store = context(request).store
    web_sessions = await store.web.list_web_sessions(user.account.id)
    seen = await store.signin.seen_logins(user.account.id, time.time() - SEEN_DAYS * 86400)
    current = token_digest(user.session_id)
    return render(
        request, "sessions.html", user=user, csrf=user.csrf, current=current,
        web_sessions=[(s, _browser(s.user_agent)) for s in web_sessions], seen=seen,
        seen_days=SEEN_DAYS,
    )  # fmt: skip


@action
async def end_web_session(request: Request, user: User, form: FormData) -> Response:
    digest = str(form.get("session", ""))[:64]
    await context(request).store.web.delete_web_session_by_digest(user.account.id, digest)
    target = "/login" if digest == token_digest(user.session_id) else "/sessions"
    return RedirectResponse(target, status_code=303)


@action
async def end_program(request: Request, user: User, form: FormData) -> Response:
    """Revokes the app password a program used (which ends its connections),
    and forgets the row."""
    ctx = context(request)
    name = str(form.get("app_password", ""))[:200]
    if name:
        try:
            await ctx.store.accounts.revoke_app_password(user.account.id, name)
        except NotFound:
            pass
        ctx.auth.forget(user.account.id)
    try:
        seen_id = int(str(form.get("seen", "0")))
    except ValueError:
        seen_id = 0
    await ctx.store.signin.forget_login(user.account.id, seen_id)
    return RedirectResponse("/sessions", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/sessions", sessions_page, methods=["GET"]),
        Route("/sessions/end", end_web_session, methods=["POST"]),
        Route("/sessions/programs/end", end_program, methods=["POST"]),
    ]
