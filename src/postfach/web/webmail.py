"""Webmail, reading side: folders with counts, a paged list by date, reading a
message (plain text, or sanitised HTML without remote images until asked),
attachments, moving and flagging several messages at once (restoring from
Trash, R15), deleting (to Trash; from Trash for good) and search across all
folders (R16). Writing is compose.py; the folders page is folders.py.

Every lookup is scoped to the signed-in account: folders are found by name
within the account (`store.mailboxes.get_mailbox(account_id, name)`), messages by UID
within such a folder, so no URL can reach another account's mail. Changes go
through the store and its hub, so IMAP sessions see them at once.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.spam.training import learn_from_filing
from postfach.store.api import FlagMode
from postfach.store.records import Mailbox, MessageMeta, SpecialUse, StoredMessage, Uid
from postfach.web.common import context, render, whole_number
from postfach.web.mailview import attachment_bytes, message_view, parse_part, summary
from postfach.web.policy import page_policy
from postfach.web.sanitize import frame_document
from postfach.web.sessions import User, action, page

__all__ = ["PAGE_SIZE", "folder_list", "folder_order", "routes"]

PAGE_SIZE = 50
MAX_SELECTED = 1000
SEARCH_LIMIT = 200


def _not_found(request: Request, user: User, what: str) -> Response:
    return render(request, "not_found.html", status=404, user=user, csrf=user.csrf, what=what)


async def _mailbox(user: User, request: Request, name: str) -> Mailbox | None:
    if not name or len(name) > 1000:
        return None
    return await context(request).store.mailboxes.get_mailbox(user.account.id, name)


# Where mail programs put the standard folders: INBOX first, then the special
# folders in this order, then the user's own by name; children follow their parent.
_SPECIAL_ORDER = {
    SpecialUse.DRAFTS: 1, SpecialUse.SENT: 2, SpecialUse.ARCHIVE: 3,
    SpecialUse.JUNK: 4, SpecialUse.TRASH: 5,
}  # fmt: skip


def folder_order(mailboxes: list[Mailbox]) -> list[Mailbox]:
    def rank(mailbox: Mailbox) -> int:
        if mailbox.name.upper() == "INBOX":
            return 0
        return _SPECIAL_ORDER.get(mailbox.special_use, 6) if mailbox.special_use else 6

    top_rank = {m.name: rank(m) for m in mailboxes if "/" not in m.name}

    def key(mailbox: Mailbox) -> tuple[int, tuple[str, ...]]:
        path = mailbox.name.split("/")
        return top_rank.get(path[0], 6), tuple(part.casefold() for part in path)

    return sorted(mailboxes, key=key)


async def folder_list(request: Request, user: User) -> list[dict[str, object]]:
    store = context(request).store
    folders = []
    for mailbox in folder_order(await store.mailboxes.list_mailboxes(user.account.id)):
        status = await store.mailboxes.mailbox_status(mailbox.id)
        depth = mailbox.name.count("/")
        label = mailbox.name.rsplit("/", 1)[-1]
        folders.append(
            {"name": mailbox.name, "label": label, "depth": depth,
             "total": status.messages, "unread": status.unseen}
        )  # fmt: skip
    return folders


def _notice(request: Request) -> str:
    params = request.query_params
    if "moved" in params:
        return f"Moved {whole_number(params['moved'], 0)} message(s) to {params.get('to', '')}."
    if "deleted" in params:
        return f"Deleted {whole_number(params['deleted'], 0)} message(s)."
    if "trashed" in params:
        return f"Moved {whole_number(params['trashed'], 0)} message(s) to Trash."
    if "sent" in params:
        return "Sent."
    if "marked" in params:
        return f"Changed {whole_number(params['marked'], 0)} message(s)."
    return ""


@page
async def folder(request: Request, user: User) -> Response:
    name = request.query_params.get("box", "INBOX")
    mailbox = await _mailbox(user, request, name)
    if mailbox is None:
        return _not_found(request, user, "That folder does not exist.")
    folders = await folder_list(request, user)
    total = next(int(str(f["total"])) for f in folders if f["name"] == mailbox.name)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(whole_number(request.query_params.get("page"), 1), 1), pages)
    stored = await context(request).store.mail.message_page(
        mailbox.id, (number - 1) * PAGE_SIZE, PAGE_SIZE
    )
    return render(
        request, "folder.html", user=user, csrf=user.csrf, folders=folders, mailbox=mailbox,
        messages=[summary(m) for m in stored], page=number, pages=pages, total=total,
        flash=_notice(request), is_trash=mailbox.special_use == SpecialUse.TRASH,
        is_drafts=mailbox.special_use == SpecialUse.DRAFTS,
    )  # fmt: skip


async def _message(request: Request, user: User) -> tuple[Mailbox, StoredMessage] | None:
    mailbox = await _mailbox(user, request, request.query_params.get("box", ""))
    uid = whole_number(request.query_params.get("uid"), 0)
    if mailbox is None or uid <= 0:
        return None
    found = await context(request).store.mail.get_messages(mailbox.id, [Uid(uid)])
    return (mailbox, found[0]) if found else None


@page
async def message(request: Request, user: User) -> Response:
    found = await _message(request, user)
    if found is None:
        return _not_found(request, user, "That message does not exist (any more).")
    mailbox, stored = found
    store = context(request).store
    remote = request.query_params.get("images") == "1"
    view = message_view(stored, await store.mail.read_blob(stored.blob_sha256), remote)
    if "\\Seen" not in stored.flags:
        await store.mail.store_flags(mailbox.id, [stored.uid], "add", frozenset({"\\Seen"}))
    plain = request.query_params.get("view") == "text" or view.html is None
    response = render(
        request, "message.html", user=user, csrf=user.csrf, mailbox=mailbox, uid=stored.uid,
        view=view, plain=plain, remote=remote,
        frame=None if plain or view.html is None else frame_document(view.html, remote),
        folders=await folder_list(request, user),
    )  # fmt: skip
    response.headers["content-security-policy"] = page_policy(remote_images=remote)
    return response


def _disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@page
async def part(request: Request, user: User) -> Response:
    found = await _message(request, user)
    number = parse_part(request.query_params.get("part", ""))
    if found is None or number is None:
        return _not_found(request, user, "That attachment does not exist.")
    _mailbox_, stored = found
    raw = await context(request).store.mail.read_blob(stored.blob_sha256)
    content = attachment_bytes(stored, raw, number)
    if content is None:
        return _not_found(request, user, "That attachment does not exist.")
    data, content_type, name = content
    return Response(
        data,
        media_type="application/octet-stream" if content_type.startswith("text/") else content_type,
        headers={
            "content-disposition": _disposition(name),
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


def _selected(form: FormData) -> list[Uid]:
    uids = {whole_number(str(v), 0) for v in form.getlist("uid")[:MAX_SELECTED]}
    return sorted(Uid(u) for u in uids if u > 0)


def _back(box: str, **notice: object) -> Response:
    query = urlencode({"box": box, **notice})
    return RedirectResponse(f"/mail?{query}", status_code=303)


@action
async def move(request: Request, user: User, form: FormData) -> Response:
    source = await _mailbox(user, request, str(form.get("box", "")))
    target = await _mailbox(user, request, str(form.get("target", "")))
    if source is None or target is None:
        return _not_found(request, user, "That folder does not exist.")
    uids = _selected(form)
    moved = []
    if uids and source.id != target.id:
        ctx = context(request)
        moved = await ctx.store.mail.move_messages(source.id, uids, target.id)
        await learn_from_filing(ctx.spam, ctx.store, source, target, [new for _, new in moved])
    return _back(source.name, moved=len(moved), to=target.name)


@action
async def delete(request: Request, user: User, form: FormData) -> Response:
    store = context(request).store
    source = await _mailbox(user, request, str(form.get("box", "")))
    if source is None:
        return _not_found(request, user, "That folder does not exist.")
    uids = _selected(form)
    trash = await store.mailboxes.special_mailbox(user.account.id, SpecialUse.TRASH)
    if trash is None or trash.id == source.id:
        removed = await store.mail.delete_messages(source.id, uids) if uids else []
        return _back(source.name, deleted=len(removed))
    moved = await store.mail.move_messages(source.id, uids, trash.id) if uids else []
    return _back(source.name, trashed=len(moved))


# What the list's flag buttons do: (add or remove, the flag).
_FLAG_ACTIONS: dict[str, tuple[FlagMode, str]] = {
    "seen": ("add", "\\Seen"), "unseen": ("remove", "\\Seen"),
    "flagged": ("add", "\\Flagged"), "unflagged": ("remove", "\\Flagged"),
}  # fmt: skip


@action
async def flag(request: Request, user: User, form: FormData) -> Response:
    source = await _mailbox(user, request, str(form.get("box", "")))
    wanted = _FLAG_ACTIONS.get(str(form.get("flag", "")))
    if source is None or wanted is None:
        return _not_found(request, user, "That folder does not exist.")
    uids = _selected(form)
    changed: list[MessageMeta] = []
    if uids:
        mode, name = wanted
        store = context(request).store
        changed, _ = await store.mail.store_flags(source.id, uids, mode, frozenset({name}))
    return _back(source.name, marked=len(changed))


@page
async def search(request: Request, user: User) -> Response:
    query = request.query_params.get("q", "").strip()[:200]
    results = []
    if query:
        found = await context(request).store.mail.search_account(
            user.account.id, query, SEARCH_LIMIT
        )
        results = [(mailbox.name, summary(stored)) for mailbox, stored in found]
    return render(
        request, "search.html", user=user, csrf=user.csrf, query=query, results=results,
        folders=await folder_list(request, user), limit=SEARCH_LIMIT,
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/mail", folder, methods=["GET"]),
        Route("/mail/message", message, methods=["GET"]),
        Route("/mail/part", part, methods=["GET"]),
        Route("/mail/move", move, methods=["POST"]),
        Route("/mail/delete", delete, methods=["POST"]),
        Route("/mail/flag", flag, methods=["POST"]),
        Route("/mail/search", search, methods=["GET"]),
    ]
