"""What the web listeners serve for other machines: ACME's HTTP-01 answers and the
MTA-STS policy (RFC 8461), and the plain `http` listener's redirect to HTTPS.

With an `https` listener (and not in --dev), `http` (port 80) serves only what
must work without TLS: `/.well-known/acme-challenge/` (the CA asks there, RFC
8555 §8.3) and Thunderbird's autoconfig (`/.well-known/autoconfig/...` and
`autoconfig.DOMAIN/mail/config-v1.1.xml`, which it tries over HTTP too); every
other request is redirected to the same host and path over HTTPS (301).
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.context import ServerContext
from postfach.mtasts import policy_text
from postfach.net.certs import CertFiles
from postfach.web import autoconfig
from postfach.web.common import context

__all__ = ["build_redirect_app", "routes"]

ACME_PREFIX = "/.well-known/acme-challenge/"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # base64url, RFC 8555 §8.3


async def acme_challenge(request: Request) -> Response:
    """The key authorization for a token acme/order.py is having validated now, by
    this node or (from the store) another."""
    token = str(request.path_params["token"])
    if not _TOKEN.fullmatch(token):
        return PlainTextResponse("404 Not Found\n", status_code=404)
    ctx = context(request)
    files = CertFiles(ctx.config.data_path / "tls")
    try:
        answer: bytes | None = (files.http01_dir / token).read_bytes()
    except FileNotFoundError:  # another node of the cluster may be ordering
        answer = await ctx.store.tls_files.get_tls_file(f"http-01/{token}")
    if answer is None:
        return PlainTextResponse("404 Not Found\n", status_code=404)
    return Response(answer, media_type="application/octet-stream")


async def mta_sts(request: Request) -> Response:
    return PlainTextResponse(policy_text(context(request).config))


def routes() -> list[BaseRoute]:
    """The routes every web listener has."""
    return [
        Route(ACME_PREFIX + "{token}", acme_challenge, methods=["GET"]),
        Route("/.well-known/mta-sts.txt", mta_sts, methods=["GET"]),
    ]


def _https_url(request: Request, port: int) -> str:
    host = request.headers.get("host", "").rpartition("@")[2]
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name or context(request).config.public_name
    netloc = name if port == 443 else f"{name}:{port}"
    query = f"?{request.url.query}" if request.url.query else ""
    return f"https://{netloc}{request.url.path}{query}"


def build_redirect_app(ctx: ServerContext, https_port: int) -> Starlette:
    """The plain `http` listener beside an `https` one."""

    async def to_https(request: Request) -> Response:
        return RedirectResponse(_https_url(request, https_port), status_code=301)

    thunderbird = [
        Route(path, autoconfig.thunderbird, methods=["GET"])
        for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml")
    ]
    everything = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route(ACME_PREFIX + "{token}", acme_challenge, methods=["GET"]),
            *thunderbird,
            Route("/{path:path}", to_https, methods=everything),
        ]
    )
    app.state.ctx = ctx
    return app
