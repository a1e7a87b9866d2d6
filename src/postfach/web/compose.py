"""Writing mail on the web pages: compose, reply, reply to all, forward, drafts.

The composer is one form (multipart, for attachments) with two buttons: "Send"
goes through the submission path (postfach.sending: the submission listener's
rules and words, delivery or the outbound queue, a copy in Sent); "Save draft"
files the message in Drafts (\\Draft, \\Seen) and replaces the draft it was
resumed from. A send the rules refuse keeps what was written as a draft and
shows the refusal. Attachments of a resumed draft or of a forwarded message
are carried by reference (folder, UID, part), scoped to the signed-in account
like every other lookup here.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.sending import SendRefused, own_addresses, send
from postfach.store.records import Account, Mailbox, SpecialUse, StoredMessage, Uid
from postfach.web.common import client_ip, context, render, whole_number
from postfach.web.drafting import (
    Draft,
    FileAttachment,
    build_message,
    draft_from,
    forward_of,
    header_addresses,
    reply_to,
)
from postfach.web.mailview import Attachment, attachment_bytes, message_view, parse_part
from postfach.web.sessions import (
    MAX_FORM_FIELDS,
    MAX_FORM_PART,
    User,
    current_user,
    page,
    same_origin,
    tokens_match,
)
from postfach.web.webmail import folder_list

__all__ = ["routes"]

MAX_FILES = 50
_DRAFT_FLAGS = frozenset({"\\Draft", "\\Seen"})


async def _folder(request: Request, account: Account, name: str) -> Mailbox | None:
    if not name or len(name) > 1000:
        return None
    return await context(request).store.mailboxes.get_mailbox(account.id, name)


async def _stored(
    request: Request, account: Account, box: str, uid: int
) -> tuple[Mailbox, StoredMessage, bytes] | None:
    """(folder, message, blob) of one of the account's messages, or None."""
    mailbox = await _folder(request, account, box)
    if mailbox is None or uid <= 0:
        return None
    store = context(request).store
    found = await store.mail.get_messages(mailbox.id, [Uid(uid)])
    if not found:
        return None
    return mailbox, found[0], await store.mail.read_blob(found[0].blob_sha256)


async def _drafts(request: Request, account: Account) -> Mailbox | None:
    return await context(request).store.mailboxes.special_mailbox(account.id, SpecialUse.DRAFTS)


def _carried(box: str, uid: int, attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    return [
        {"ref": f"{uid}:{a.part}:{box}", "filename": a.filename, "size": str(a.size)}
        for a in attachments
    ]


async def _composer(
    request: Request, user: User, draft: Draft, own: list[str], *, carried: list[dict[str, str]],
    hidden: dict[str, str], error: str = "", flash: str = "", status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request, "compose.html", status=status, user=user, csrf=user.csrf, draft=draft, own=own,
        carried=carried, hidden=hidden, error=error, flash=flash,
        folders=await folder_list(request, user),
    )  # fmt: skip


@page
async def compose_form(request: Request, user: User) -> Response:
    ctx = context(request)
    params = request.query_params
    own = await own_addresses(ctx, user.account)
    draft, carried, hidden = Draft(sender=own[0]), [], {}
    box = params.get("box", "INBOX")
    if "draft" in params:
        drafts = await _drafts(request, user.account)
        found = await _stored(
            request, user.account, drafts.name if drafts else "", whole_number(params["draft"])
        )
        if found is None:
            return RedirectResponse("/mail/compose", status_code=303)
        mailbox, stored, raw = found
        view = message_view(stored, raw, remote_images=False)
        draft = draft_from(raw, view.text or "", own)
        carried = _carried(mailbox.name, stored.uid, view.attachments)
        hidden["draft_uid"] = str(stored.uid)
    for kind in ("reply", "forward"):
        if kind in params:
            found = await _stored(request, user.account, box, whole_number(params[kind]))
            if found is None:
                return RedirectResponse("/mail/compose", status_code=303)
            mailbox, stored, raw = found
            view = message_view(stored, raw, remote_images=False)
            if kind == "reply":
                draft = reply_to(raw, view.text or "", own, own[0], to_all=params.get("all") == "1")
            else:
                draft = forward_of(raw, view.text or "", own[0])
                carried = _carried(mailbox.name, stored.uid, view.attachments)
            hidden.update(
                {"origin_kind": kind, "origin_box": mailbox.name, "origin_uid": str(stored.uid)}
            )
    flash = "Draft saved." if params.get("saved") == "1" else ""
    return await _composer(request, user, draft, own, carried=carried, hidden=hidden, flash=flash)


async def _read_compose_form(request: Request) -> FormData:
    limit = context(request).config.limits.max_message_size
    return await request.form(
        max_files=MAX_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=max(MAX_FORM_PART, limit)
    )


async def compose(request: Request) -> Response:
    """POST: send or save. Multipart, so the usual `action` wrapper (no files) does
    not parse it; the same checks are made here: a session, same origin, CSRF."""
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login?next=%2Fmail%2Fcompose", status_code=303)
    form = await _read_compose_form(request)
    try:
        if not same_origin(request) or not tokens_match(user.csrf, form.get("csrf")):
            return PlainTextResponse("The form had expired; go back and try again.", 403)
        return await _compose(request, user, form)
    finally:
        await form.close()


async def _compose(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    own = await own_addresses(ctx, user.account)
    def text(name: str) -> str:
        return str(form.get(name, ""))[:100_000]

    sender = text("sender") if text("sender") in own else own[0]
    attachments = await _attachments(request, user.account, form)
    if attachments is None:
        return PlainTextResponse("413 The attachments are larger than a message may be.", 413)
    draft = Draft(
        sender, text("to"), text("cc"), text("bcc"), text("subject"), text("body"),
        text("in_reply_to"), text("references"), tuple(attachments),
    )  # fmt: skip
    draft_uid = whole_number(form.get("draft_uid"))
    if form.get("do") == "send":
        recipients = [*header_addresses(draft.to), *header_addresses(draft.cc),
                      *header_addresses(draft.bcc)]  # fmt: skip
        raw = build_message(draft, message_id=_message_id(ctx.hostname), keep_bcc=False)
        try:
            if not recipients:
                raise SendRefused("Give at least one recipient (To, Cc or Bcc).")
            await send(
                ctx, user.account, draft.sender, recipients, raw, client_ip=client_ip(request)
            )
        except SendRefused as refused:
            saved = await _save_draft(request, user.account, draft, draft_uid)
            return await _refused(request, user, saved, own, str(refused))
        await _mark_origin(request, user.account, form)
        if draft_uid:
            await _drop_draft(request, user.account, draft_uid)
        return RedirectResponse(
            "/mail?" + urlencode({"box": "INBOX", "sent": "1"}), status_code=303
        )
    saved = await _save_draft(request, user.account, draft, draft_uid)
    return RedirectResponse(f"/mail/compose?draft={saved}&saved=1", status_code=303)


async def _refused(request: Request, user: User, saved: int, own: list[str], why: str) -> Response:
    """The composer again, from the draft just saved, with the refusal."""
    drafts = await _drafts(request, user.account)
    found = await _stored(request, user.account, drafts.name if drafts else "", saved)
    assert found is not None
    mailbox, stored, raw = found
    view = message_view(stored, raw, remote_images=False)
    return await _composer(
        request, user, draft_from(raw, view.text or "", own), own,
        carried=_carried(mailbox.name, stored.uid, view.attachments),
        hidden={"draft_uid": str(saved)}, error=f"Not sent: {why} It is kept in Drafts.",
        status=422,
    )  # fmt: skip


async def _attachments(
    request: Request, account: Account, form: FormData
) -> list[FileAttachment] | None:
    """Carried parts (by reference) and uploaded files; None beyond the size limit."""
    limit = context(request).config.limits.max_message_size
    found: list[FileAttachment] = []
    total = 0
    for ref in form.getlist("carry")[:MAX_FILES]:
        uid, _, rest = str(ref).partition(":")
        number, _, box = rest.partition(":")
        part = parse_part(number)
        stored = await _stored(request, account, box, whole_number(uid)) if part else None
        content = attachment_bytes(stored[1], stored[2], part) if stored and part else None
        if content is not None:
            data, content_type, name = content
            found.append(FileAttachment(name, content_type, data))
            total += len(data)
    for upload in form.getlist("attachment")[:MAX_FILES]:
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = await upload.read(limit + 1)
        total += len(data)
        if total > limit:
            return None
        name = upload.filename.replace("/", "_").replace("\\", "_")[:200]
        found.append(FileAttachment(name, upload.content_type or "", data))
    return found if total <= limit else None


def _message_id(hostname: str) -> str:
    return email.utils.make_msgid(domain=hostname)


async def _save_draft(request: Request, account: Account, draft: Draft, old_uid: int) -> int:
    ctx = context(request)
    drafts = await _drafts(request, account)
    if drafts is None:
        drafts = await ctx.store.mailboxes.create_mailbox(account.id, "Drafts", SpecialUse.DRAFTS)
    raw = build_message(draft, message_id=_message_id(ctx.hostname), keep_bcc=True)
    uid, _ = await ctx.store.mail.append(drafts.id, raw, _DRAFT_FLAGS)
    if old_uid:
        await _drop_draft(request, account, old_uid)
    return int(uid)


async def _drop_draft(request: Request, account: Account, uid: int) -> None:
    drafts = await _drafts(request, account)
    if drafts is not None:
        await context(request).store.mail.delete_messages(drafts.id, [Uid(uid)])


async def _mark_origin(request: Request, account: Account, form: FormData) -> None:
    """\\Answered on the message replied to, $Forwarded on the one forwarded."""
    kind = str(form.get("origin_kind", ""))
    flag = {"reply": "\\Answered", "forward": "$Forwarded"}.get(kind)
    mailbox = await _folder(request, account, str(form.get("origin_box", "")))
    uid = whole_number(form.get("origin_uid"))
    if flag and mailbox is not None and uid:
        await context(request).store.mail.store_flags(
            mailbox.id, [Uid(uid)], "add", frozenset({flag})
        )


def routes() -> list[BaseRoute]:
    return [
        Route("/mail/compose", compose_form, methods=["GET"]),
        Route("/mail/compose", compose, methods=["POST"]),
    ]
