"""Shared by every web module: the server context, the client's address, templates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from postfach.context import ServerContext

__all__ = ["TEMPLATES", "client_ip", "context", "render", "whole_number"]

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["when"] = lambda t: time.strftime("%Y-%m-%d %H:%M", time.localtime(float(t)))


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def client_ip(request: Request) -> str:
    """The client's address (web.forwarded applies X-Forwarded-For and Forwarded
    from proxy.trusted)."""
    return request.client.host if request.client else "unknown"


def whole_number(value: object, default: int = 0) -> int:
    """A form or query value that is a plain decimal number of at most nine digits
    (no sign, no spaces: it fits every column), else `default`."""
    text = "" if value is None else str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else default


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("user", None)
    values.setdefault("csrf", "")
    values.setdefault("flash", "")
    values.setdefault("error", "")
    html = TEMPLATES.get_template(name).render(request=request, **values)
    return HTMLResponse(html, status_code=status)
