"""The webmail's folders page: create, rename and delete folders.

The store's rules hold as over IMAP: INBOX cannot be deleted (renaming it moves
its messages, RFC 9051 §6.3.6), a name may not exist twice, and a folder's
children move with it. The special folders (Sent, Drafts, Spam, Trash) are
kept: mail programs and the server file mail into them by their attribute.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.store import AlreadyExists, NotFound, StoreError
from postfach.web.common import context, render
from postfach.web.sessions import User, action, page
from postfach.web.webmail import folder_order

__all__ = ["routes"]

MAX_NAME = 200
_BAD = frozenset('*%\\"\r\n\t\x00')


def _name_problem(name: str) -> str:
    if not name or len(name) > MAX_NAME:
        return f"Give the folder a name of 1 to {MAX_NAME} characters."
    if any(c in _BAD for c in name) or name.startswith("/") or name.endswith("/") or "//" in name:
        return 'A folder name may not hold * % \\ " or a tab, nor begin or end with /.'
    return ""


async def _page(request: Request, user: User, error: str = "", flash: str = "") -> Response:
    store = context(request).store
    mailboxes = folder_order(await store.mailboxes.list_mailboxes(user.account.id))
    return render(
        request, "folders.html", status=422 if error else 200, user=user, csrf=user.csrf,
        mailboxes=mailboxes, error=error, flash=flash or request.query_params.get("done", ""),
    )  # fmt: skip


@page
async def folders_page(request: Request, user: User) -> Response:
    return await _page(request, user)


def _done(text: str) -> Response:
    return RedirectResponse("/mail/folders?" + urlencode({"done": text}), status_code=303)


@action
async def create(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", "")).strip()
    parent = str(form.get("parent", "")).strip()
    full = f"{parent}/{name}" if parent and name else name
    problem = _name_problem(name) or _name_problem(full)
    if problem:
        return await _page(request, user, error=problem)
    try:
        await context(request).store.mailboxes.create_mailbox(user.account.id, full)
    except AlreadyExists:
        return await _page(request, user, error=f"A folder “{full}” exists already.")
    return _done(f"Created “{full}”.")


@action
async def rename(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    old, new = str(form.get("old", "")), str(form.get("new", "")).strip()
    mailbox = await store.mailboxes.get_mailbox(user.account.id, old) if old else None
    if mailbox is None:
        return await _page(request, user, error="That folder does not exist.")
    problem = _name_problem(new)
    if problem or mailbox.special_use is not None:
        return await _page(request, user, error=problem or "The special folders keep their names.")
    try:
        await store.mailboxes.rename_mailbox(user.account.id, mailbox.name, new)
    except AlreadyExists:
        return await _page(request, user, error=f"A folder “{new}” exists already.")
    except (NotFound, StoreError) as exc:
        return await _page(request, user, error=f"Could not rename it: {exc}")
    return _done(f"Renamed “{mailbox.name}” to “{new}”.")


@action
async def delete(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    name = str(form.get("name", ""))
    mailbox = await store.mailboxes.get_mailbox(user.account.id, name) if name else None
    if mailbox is None:
        return await _page(request, user, error="That folder does not exist.")
    if mailbox.name.upper() == "INBOX" or mailbox.special_use is not None:
        return await _page(request, user, error="INBOX and the special folders stay.")
    try:
        await store.mailboxes.delete_mailbox(user.account.id, mailbox.name)
    except (NotFound, StoreError) as exc:
        return await _page(request, user, error=f"Could not delete it: {exc}")
    return _done(f"Deleted “{mailbox.name}” and the mail in it.")


def routes() -> list[BaseRoute]:
    return [
        Route("/mail/folders", folders_page, methods=["GET"]),
        Route("/mail/folders/create", create, methods=["POST"]),
        Route("/mail/folders/rename", rename, methods=["POST"]),
        Route("/mail/folders/delete", delete, methods=["POST"]),
    ]
