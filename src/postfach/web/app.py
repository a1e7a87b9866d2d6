"""The Starlette application of the `http` listener: routes and security headers.

Every response gets nosniff, same-origin referrer, frame and content-security headers
(no scripts anywhere: the pages are plain HTML forms). Pages with account data
are not cached. Errors under /api/ (and of the one-click unsubscribe POST,
unsubscribe.py) are RFC 9457 problem details; elsewhere a short page.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postfach.context import ServerContext
from postfach.store import StoreFull, StoreUnavailable, faults
from postfach.web import (
    account,
    admin_api,
    admin_mailing,
    admin_pages,
    autoconfig,
    checkpage,
    compose,
    folders,
    health,
    imports,
    rules,
    signins,
    twofactor,
    unsubscribe,
    webmail,
    wellknown,
)
from postfach.web.policy import PAGE_POLICY
from postfach.web.problems import Problem, problem_response

__all__ = ["ClientGone", "SecurityHeaders", "build_app"]

log = logging.getLogger(__name__)

_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make Origin "null"
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# HTTPS only, from now on (RFC 6797); not for the subdomains, which may be other servers.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """Adds the headers above unless the response set its own; HSTS over HTTPS
    (but not in --dev, whose plain-HTTP port on localhost must keep working)."""

    def __init__(self, app: ASGIApp, hsts: bool = True) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = list(_HEADERS)
                if self.hsts and scope.get("scheme") == "https":
                    extra.append(HSTS)
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(n, v) for n, v in extra if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClientGone:
    """A client that hangs up before its request body is read is one line in the
    log, not a traceback from here and another from uvicorn."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            client = scope.get("client") or ("unknown", 0)
            method, path = scope.get("method", ""), scope.get("path", "")
            log.info("web: %s hung up during %s %s", client[0], method, path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return problem_response(Problem(exc.status_code, "", exc.detail or ""), request.url.path)
    return PlainTextResponse(f"{exc.status_code} {exc.detail}\n", status_code=exc.status_code)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreUnavailable | StoreFull):
        return _store_fault(request, exc)
    log.exception("web: %s %s failed", request.method, request.url.path, exc_info=exc)
    if request.url.path.startswith("/api/"):
        return problem_response(Problem(500, "server-error"), request.url.path)
    return PlainTextResponse("500 Something went wrong on the server.\n", status_code=500)


def _store_fault(request: Request, exc: StoreUnavailable | StoreFull) -> Response:
    """The store is away or full: 503, a passing condition, not a server bug."""
    faults.report(exc, f"web: {request.method} {request.url.path}")
    if request.url.path.startswith("/api/"):
        problem = Problem(503, "unavailable", "the mail store is unavailable or full")
        return problem_response(problem, request.url.path)
    text = "503 The mail store is unavailable or full; please try again later.\n"
    return PlainTextResponse(text, status_code=503, headers={"Retry-After": "30"})


_STATIC = Path(__file__).parent / "static"


async def _favicon(request: Request) -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page links."""
    headers = {"Cache-Control": "public, max-age=86400"}
    return FileResponse(_STATIC / "favicon.svg", media_type="image/svg+xml", headers=headers)


def build_app(ctx: ServerContext) -> Starlette:
    static = StaticFiles(directory=_STATIC)
    app = Starlette(
        routes=[
            *wellknown.routes(),
            *health.routes(),
            *autoconfig.routes(),
            *admin_api.routes(),
            *unsubscribe.routes(ctx.config),  # before the pages: its path is configurable
            *account.routes(),
            *twofactor.routes(),
            *signins.routes(),
            *imports.routes(),
            *rules.routes(),
            *checkpage.routes(),
            *webmail.routes(),
            *compose.routes(),
            *folders.routes(),
            *admin_pages.routes(),
            *admin_mailing.routes(),
            Route("/favicon.ico", _favicon),
            Mount("/static", app=static, name="static"),
        ],
        exception_handlers={
            HTTPException: _http_error,
            Problem: _problem,
            Exception: _server_error,
        },
        middleware=[
            Middleware(ClientGone),
            Middleware(SecurityHeaders, hsts=not ctx.config.dev),
        ],
    )
    app.state.ctx = ctx
    return app
