"""The admin pages: what the CLI does for domains, accounts, aliases, quotas and
the outbound queue, as forms, for accounts with `admin=on` only.

To anyone else these paths do not exist (404, as a page that is not there):
the pages of one account never reveal that another kind of page is behind a
URL. Every change is a POST with the session's CSRF token, like every other
form; the store's errors come back as one line on the page. The newsletter
pages are admin_mailing.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.auth.passwords import hash_password_async, password_problem
from postfach.mailing.addresses import AddressError, normalize_address
from postfach.queue import admin as queue_admin
from postfach.store import AlreadyExists, NotFound, StoreError
from postfach.web.common import context, render
from postfach.web.sessions import ActionHandler, PageHandler, User, action, page

__all__ = ["admin_action", "admin_page", "routes"]

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _hidden(request: Request, user: User) -> Response:
    return render(request, "not_found.html", status=404, user=user, csrf=user.csrf,
                  what="That page does not exist.")  # fmt: skip


def admin_page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    @wraps(handler)
    async def endpoint(request: Request, user: User) -> Response:
        return await handler(request, user) if user.account.admin else _hidden(request, user)

    return page(endpoint)


def admin_action(handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
    @wraps(handler)
    async def endpoint(request: Request, user: User, form: FormData) -> Response:
        if not user.account.admin:
            return _hidden(request, user)
        return await handler(request, user, form)

    return action(endpoint)


def _size(text: str) -> int:
    """ "2G", "500M", "0" (unlimited) → octets; ValueError otherwise."""
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "")
    value = float(number)
    if value < 0 or value != value:
        raise ValueError(text)
    return int(value * _UNITS[unit])


def _shown_size(octets: int) -> str:
    """The largest unit that divides the size exactly: 2G, 500M, 1536K."""
    for unit in ("t", "g", "m", "k"):
        factor = _UNITS[unit]
        if octets >= factor and octets % factor == 0:
            return f"{octets // factor}{unit.upper()}"
    return str(octets)


def _done(text: str, section: str = "") -> Response:
    target = "/admin?" + urlencode({"done": text}) + (f"#{section}" if section else "")
    return RedirectResponse(target, status_code=303)


async def _page(request: Request, user: User, error: str = "") -> Response:
    store = context(request).store
    accounts = await store.accounts.list_accounts()
    entries = await queue_admin.list_entries(store)
    return render(
        request, "admin.html", status=422 if error else 200, user=user, csrf=user.csrf,
        domains=await store.accounts.list_domains(), accounts=accounts,
        aliases=await store.accounts.list_aliases(), queue=entries, now=time.time(),
        size=_shown_size, error=error, flash=request.query_params.get("done", ""),
    )  # fmt: skip


@admin_page
async def overview(request: Request, user: User) -> Response:
    return await _page(request, user)


async def _run(request: Request, user: User, work: Awaitable[object], done: str) -> Response:
    try:
        await work
    except (AlreadyExists, NotFound, StoreError, ValueError, AddressError) as exc:
        return await _page(request, user, error=str(exc))
    return _done(done)


@admin_action
async def add_domain(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", "")).strip().lower()
    if not name or "." not in name or len(name) > 253 or "@" in name:
        return await _page(request, user, error="Give a domain name such as example.org.")
    store = context(request).store
    return await _run(request, user, store.accounts.add_domain(name), f"Added the domain {name}.")


@admin_action
async def remove_domain(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", ""))
    store = context(request).store
    return await _run(request, user, store.accounts.remove_domain(name), f"Removed {name}.")


@admin_action
async def add_account(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    password = str(form.get("password", ""))
    try:
        address = normalize_address(str(form.get("address", "")))
        quota = _size(str(form.get("quota", "0")) or "0")
    except (AddressError, ValueError):
        return await _page(
            request, user, error="Give an address (anna@example.org) and a quota such as 2G or 0."
        )
    problem = password_problem(password)
    if problem:
        return await _page(request, user, error=problem[0].upper() + problem[1:] + ".")
    if await store.accounts.get_domain(address.rpartition("@")[2]) is None:
        return await _page(
            request,
            user,
            error=f"{address.rpartition('@')[2]} is not one of our domains; add it first.",
        )
    digest = await hash_password_async(password)
    work = store.accounts.add_account(address.lower(), digest, quota)
    return await _run(request, user, work, f"Added {address.lower()}.")


@admin_action
async def update_account(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    account = await store.accounts.get_account(str(form.get("address", "")))
    if account is None:
        return await _page(request, user, error="No such account.")
    try:
        quota = _size(str(form.get("quota", "0")) or "0")
    except ValueError:
        return await _page(
            request, user, error="A quota is a size such as 500M, 2G, or 0 for none."
        )
    admin = form.get("admin") == "on"
    if account.id == user.account.id and not admin:
        return await _page(request, user, error="You cannot take your own admin rights away here.")
    work = store.accounts.update_account(account.id, quota_bytes=quota, admin=admin)
    return await _run(request, user, work, f"Saved {account.address}.")


@admin_action
async def remove_account(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    address = str(form.get("address", ""))
    if address == user.account.address:
        return await _page(request, user, error="You cannot remove your own account here.")
    if form.get("confirm") != address:
        return await _page(
            request, user, error=f"Type {address} into the box to remove it and its mail."
        )
    return await _run(request, user, store.accounts.remove_account(address), f"Removed {address}.")


@admin_action
async def add_alias(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    try:
        alias = normalize_address(str(form.get("alias", ""))).lower()
        target = normalize_address(str(form.get("target", ""))).lower()
    except AddressError as exc:
        return await _page(request, user, error=f"An alias and its target are addresses: {exc}")
    return await _run(
        request, user, store.accounts.add_alias(alias, target), f"{alias} → {target}."
    )


@admin_action
async def remove_alias(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    alias = str(form.get("alias", ""))
    return await _run(request, user, store.accounts.remove_alias(alias), f"Removed {alias}.")


@admin_action
async def retry_queue(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    raw = str(form.get("id", ""))
    message_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    count = await queue_admin.retry(store, message_id)
    return _done(f"{count} recipient(s) will be tried again now.", "queue")


@admin_action
async def delete_queued(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    raw = str(form.get("id", ""))
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        return await _page(request, user, error="No such queued message.")
    if not await queue_admin.delete(store, int(raw)):
        return await _page(request, user, error="No such queued message (sent or gone by now).")
    return _done(f"Deleted queued message {raw}.", "queue")


def routes() -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/admin", overview, methods=["GET"]),
        Route("/admin/domains", add_domain, methods=post),
        Route("/admin/domains/remove", remove_domain, methods=post),
        Route("/admin/accounts", add_account, methods=post),
        Route("/admin/accounts/update", update_account, methods=post),
        Route("/admin/accounts/remove", remove_account, methods=post),
        Route("/admin/aliases", add_alias, methods=post),
        Route("/admin/aliases/remove", remove_alias, methods=post),
        Route("/admin/queue/retry", retry_queue, methods=post),
        Route("/admin/queue/delete", delete_queued, methods=post),
    ]
