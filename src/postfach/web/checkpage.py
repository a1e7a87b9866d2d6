""""Check my mail program settings": the doctor's checks for a signed-in user (R29).

The page runs `postfach.clientsetup.run_checks` against this server's own settings
for the user's address — what a mail program would do — and shows each step in
plain words with what to change. The password typed into the form is used for
the logins of this one run and kept nowhere; without it the logins are skipped.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postfach.clientsetup import CheckOptions, run_checks
from postfach.net.tls import cert_paths
from postfach.web.common import context, render
from postfach.web.sessions import User, action, page

__all__ = ["routes"]

# Each step of a check is bounded; a page should come back within seconds.
STEP_TIMEOUT = 5.0


@page
async def check_form(request: Request, user: User) -> Response:
    return render(request, "check.html", user=user, csrf=user.csrf, results=None)


@action
async def run_check(request: Request, user: User, form: FormData) -> Response:
    ctx = context(request)
    password = str(form.get("password", "")) or None
    # The server's own certificate is trusted here: a self-signed one is still
    # reported, but the steps behind it (login, sending) are checked too.
    cert, _key = cert_paths(ctx.config)
    options = CheckOptions(timeout=STEP_TIMEOUT, greeting_wait=2.0, cafile=str(cert))
    results = await run_checks(
        user.account.address, password, config=ctx.config, store=ctx.store, options=options
    )
    failed = sum(1 for r in results if r.failed)
    return render(
        request,
        "check.html",
        user=user,
        csrf=user.csrf,
        results=results,
        failed=failed,
        logins=password is not None,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/check", check_form, methods=["GET"]),
        Route("/check", run_check, methods=["POST"]),
    ]
