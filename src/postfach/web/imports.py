"""The settings page "Move your mail here": an IMAP import that runs in the background.

The form takes the old server, the login and the password; the job is queued
(store.imports, the password sealed) and the server's import service runs it
(postfach/moving/service.py), also after a restart. The page lists the
account's imports with their progress and reloads itself while one runs.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.moving.service import queue_import
from postfach.web.common import context, render
from postfach.web.sessions import User, action, page

__all__ = ["routes"]

SECURITY = (("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "none (not encrypted)"))
MAX_FIELD = 320


async def _page(request: Request, user: User, error: str = "", status: int = 200) -> Response:
    jobs = await context(request).store.imports.jobs(user.account.id)
    busy = any(job.state in {"queued", "running"} for job in jobs)
    return render(
        request, "import.html", status=status, user=user, csrf=user.csrf, jobs=jobs,
        busy=busy, error=error, security_choices=SECURITY,
    )  # fmt: skip


@page
async def import_page(request: Request, user: User) -> Response:
    return await _page(request, user)


@action
async def start_import(request: Request, user: User, form: FormData) -> Response:
    host = str(form.get("host", "")).strip()
    port_text = str(form.get("port", "")).strip()
    security = str(form.get("security", "ssl"))
    login = str(form.get("login", "")).strip() or user.account.address
    password = str(form.get("password", ""))
    if not host or len(host) > 255 or any(c in host for c in " /\\@"):
        return await _page(request, user, "Give the old server's name.", 422)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return await _page(request, user, "The port is a number up to 65535.", 422)
    if security not in {value for value, _ in SECURITY}:
        return await _page(request, user, "Choose the connection security.", 422)
    if not password or len(password) > 1024 or len(login) > MAX_FIELD:
        return await _page(request, user, "Give the login and password of the old server.", 422)
    ctx = context(request)
    await queue_import(
        ctx.store, ctx.config.server.data_dir, user.account.id, host, int(port_text),
        security, login, password,
    )  # fmt: skip
    return RedirectResponse("/settings/import", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/settings/import", import_page, methods=["GET"]),
        Route("/settings/import", start_import, methods=["POST"]),
    ]
