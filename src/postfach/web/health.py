"""Operations endpoints: `/healthz` (the process answers), `/readyz` (the store
answers and every listener of this process runs) and `/metrics` (Prometheus).

`/metrics` on the `http` listener needs an admin's word: `Authorization:
Bearer T` or HTTP basic with T as the password (what Prometheus' basic_auth
sends), where T is an admin token (`postfach admin token NAME`) or
`metrics.token` from the configuration. The `metrics` listener, meant for a
private address, serves the same three paths without asking.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from postfach import metrics
from postfach.context import ServerContext
from postfach.store.api import StoreError
from postfach.web.common import context

__all__ = ["health_routes", "metrics_body", "routes"]

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="postfach metrics", charset="UTF-8"'}


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    ctx = context(request)
    problems = []
    try:
        await ctx.store.queue.depth()
    except StoreError as exc:
        problems.append(f"store: {exc}")
    down = sorted(
        name
        for name in ctx.listeners_expected
        if name not in ctx.listeners or not ctx.listeners[name].serving
    )
    if down:
        problems.append("listeners not running: " + ", ".join(down))
    if problems:
        return PlainTextResponse("\n".join(problems) + "\n", status_code=503)
    return PlainTextResponse("ready\n")


async def metrics_body(ctx: ServerContext) -> bytes:
    """The exposition: counters of every worker, gauges asked of the store now."""
    depth, oldest = await ctx.store.queue.depth()
    now = time.time()
    quota: list[tuple[str, str, int]] = []
    for relay in await ctx.mailing.list_relays():
        if not (relay.hourly_limit or relay.daily_limit):
            continue
        left = await ctx.mailing.quota(relay, now)
        if left.remaining_hour is not None:
            quota.append((relay.name, "hour", left.remaining_hour))
        if left.remaining_day is not None:
            quota.append((relay.name, "day", left.remaining_day))
    age = max(0.0, now - oldest) if oldest is not None else 0.0
    return metrics.exposition(metrics.StoreGauges(depth, age, quota))


async def _authorized(request: Request) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        value = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        return False
    if not value or len(value) > 200:
        return False
    ctx = context(request)
    configured = ctx.config.metrics.token
    if configured and hmac.compare_digest(value.encode(), configured.encode()):
        return True
    return await ctx.store.web.check_admin_token(value) is not None


async def guarded_metrics(request: Request) -> Response:
    if not await _authorized(request):
        return PlainTextResponse(
            "401 send an admin token (Bearer, or as the basic-auth password)\n",
            status_code=401,
            headers=_CHALLENGE,
        )
    return await open_metrics(request)


async def open_metrics(request: Request) -> Response:
    body = await metrics_body(context(request))
    return Response(body, media_type=metrics.CONTENT_TYPE)


def health_routes() -> list[Route]:
    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def routes(guarded: bool = True) -> list[Route]:
    """The three paths; `guarded` False only on the `metrics` listener."""
    return [
        *health_routes(),
        Route("/metrics", guarded_metrics if guarded else open_metrics),
    ]
