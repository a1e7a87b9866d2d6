"""What every admin API module shares: the bearer-token check, the endpoint
wrapper that maps errors to RFC 9457 problems, and JSON body helpers.

An admin token is made by `postfach admin token NAME` and stored hashed
(store/web.py); every call needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from postfach.store import (
    AlreadyExists,
    NotFound,
    StoreError,
    StoreFull,
    StoreUnavailable,
    faults,
)
from postfach.web.common import context
from postfach.web.problems import Problem

__all__ = [
    "MAX_BODY",
    "PREFIX",
    "Handler",
    "authorize",
    "endpoint",
    "field",
    "read_body",
    "read_json",
]

PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024

Handler = Callable[[Request], Awaitable[Any]]


async def authorize(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise Problem(401, "unauthorized", "send Authorization: Bearer <admin token>")
    if await context(request).store.web.check_admin_token(token) is None:
        raise Problem(401, "unauthorized", "the admin token is not valid")


def endpoint(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Checks the token, maps store errors to problems, serialises the result.

    A handler returns JSON-able data (sent with `status`), None (204), or a
    ready Response.
    """

    @wraps(handler)
    async def run(request: Request) -> Response:
        await authorize(request)
        try:
            result = await handler(request)
        except NotFound as exc:
            raise Problem(404, "not-found", str(exc)) from None
        except AlreadyExists as exc:
            raise Problem(409, "conflict", str(exc)) from None
        except (StoreUnavailable, StoreFull) as exc:
            faults.report(exc, f"web: {request.method} {request.url.path}")
            raise Problem(503, "unavailable", "the mail store is unavailable or full") from None
        except (StoreError, ValueError) as exc:
            raise Problem(422, "invalid", str(exc)) from None
        if result is None:
            return Response(status_code=204)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=status)

    return run


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 beyond `limit` octets."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too-large", f"request bodies are limited to {limit} octets")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too-large", f"request bodies are limited to {limit} octets")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`)."""
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise Problem(400, "bad-json", "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise Problem(422, "invalid", "the request body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    """`data[name]` if it has type `kind` (a bool is no int); else a 422 problem."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Problem(422, "invalid", f"{name!r} must be a {_kind_name(kind)}")
    return value


def _kind_name(kind: type) -> str:
    return {"str": "string", "int": "integer", "bool": "boolean", "list": "list"}.get(
        kind.__name__, kind.__name__
    )
