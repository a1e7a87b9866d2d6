"""One-click unsubscribe (RFC 8058) for campaign messages (issue 6 §4).

Every campaign message carries

    List-Unsubscribe: <https://{public_name}/unsubscribe/TOKEN>, <mailto:...>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

(the base is `[mailing] unsubscribe_url` when set; mailing/tokens.py builds the
link). This module serves that path:

- `POST` with the body `List-Unsubscribe=One-Click` (form-encoded or
  multipart, RFC 8058 §3.1) marks the contact unsubscribed. The POST comes
  from a mail provider's server, not from a browser session: it carries no
  cookies and no CSRF token, and none is asked for (the 120-bit random token
  in the path is the credential). The answer is 200 with a short text, the
  same for a token nobody knows, so the endpoint cannot tell which tokens
  exist; no redirect.
- `GET` only shows a page whose button makes that POST: link scanners and
  previews fetch URLs with GET (RFC 8058 §1), and must not unsubscribe anyone.

A token that cannot be one (not 24 base32 characters) is a 404 problem.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from postfach.config import Config
from postfach.mailing import unsubscribe
from postfach.mailing.tokens import TOKEN_RE
from postfach.web.apitools import read_body
from postfach.web.common import context, render
from postfach.web.problems import Problem

__all__ = ["DONE", "routes", "unsubscribe_paths"]

DONE = "You are unsubscribed: this list will send you no further mail.\n"
MAX_FORM = 8 * 1024
ONE_CLICK = "One-Click"
_NO_INDEX = {"X-Robots-Tag": "noindex, nofollow"}


def unsubscribe_paths(config: Config) -> list[str]:
    """The route paths: the one in the links mailing builds, and /unsubscribe/{token}
    (for a proxy that strips a prefix of `unsubscribe_url`)."""
    base = config.mailing.unsubscribe_url or f"https://{config.public_name}"
    prefix = unquote(urlsplit(base).path).rstrip("/")
    return sorted({f"{prefix}/unsubscribe/{{token}}", "/unsubscribe/{token}"})


def _token(request: Request) -> str | None:
    token = str(request.path_params["token"]).lower()
    return token if TOKEN_RE.fullmatch(token) else None


async def confirm_page(request: Request) -> Response:
    """The page behind a GET: a button, and nothing changed (not even looked up)."""
    valid = _token(request) is not None
    response = render(request, "unsubscribe.html", 200 if valid else 404, valid=valid, done=False)
    response.headers.update(_NO_INDEX)
    return response


async def _form(request: Request) -> FormData:
    raw = await read_body(request, MAX_FORM)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(raw.decode("utf-8", errors="replace"))
        )
        return FormData(pairs)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=0, max_fields=20)
    except (MultiPartException, HTTPException):
        raise Problem(400, "bad-form", "the body is not a readable form") from None


async def one_click(request: Request) -> Response:
    """RFC 8058 §3.1: the POST that unsubscribes."""
    token = _token(request)
    if token is None:
        raise Problem(404, "not-found", "this is not an unsubscribe link")
    form = await _form(request)
    if form.get("List-Unsubscribe") != ONE_CLICK:
        raise Problem(400, "bad-request", "expected the body List-Unsubscribe=One-Click")
    await unsubscribe(context(request).mailing, token)
    if "text/html" in request.headers.get("accept", ""):
        response: Response = render(request, "unsubscribe.html", valid=True, done=True)
    else:
        response = PlainTextResponse(DONE)
    response.headers.update(_NO_INDEX)
    return response


def routes(config: Config) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for path in unsubscribe_paths(config):
        out.append(Route(path, confirm_page, methods=["GET"]))
        out.append(Route(path, one_click, methods=["POST"]))
    return out
