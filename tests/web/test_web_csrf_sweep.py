"""Every state-changing form of the pages, found from the app's own routes, is
refused without its CSRF token, and with a token from a foreign Origin, for a
signed-in admin; so a page added later cannot forget it."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from postfach.web.app import build_app

from .webhelpers import csrf_of, sign_in

# POSTs with their own protection: the sign-in steps (a double-submit cookie,
# tested in test_web_account and test_web_twofactor), the JSON API (a bearer
# token, no cookies), Outlook's autodiscover (a question, no session) and
# RFC 8058's one-click unsubscribe (no session by design).
EXEMPT_PREFIXES = ("/api/", "/login", "/autodiscover", "/unsubscribe")


def form_posts(app) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or set()):
            if not route.path.lower().startswith(EXEMPT_PREFIXES) and "{" not in route.path:
                paths.append(route.path)
    return sorted(paths)


@pytest.fixture
async def admin(web):
    await web.ctx.store.accounts.update_account(web.alice.id, admin=True)
    await sign_in(web.client, "alice@example.org")
    return web


async def test_every_form_post_needs_its_token_and_our_origin(admin):
    app = build_app(admin.ctx)
    paths = form_posts(app)
    expected = {"/logout", "/mail/compose", "/two-factor/enable", "/admin/domains",
                "/admin/mailing/relays", "/sessions/end", "/mail/folders/delete"}  # fmt: skip
    assert expected <= set(paths)
    token = csrf_of((await admin.client.get("/settings")).text)
    for path in paths:
        missing = await admin.client.post(path, data={"name": "x.example"})
        assert missing.status_code == 403, (path, missing.status_code)
        foreign = await admin.client.post(
            path, data={"csrf": token, "name": "x.example"},
            headers={"origin": "https://evil.example"},
        )  # fmt: skip
        assert foreign.status_code == 403, (path, foreign.status_code)
    # Nothing changed, and the session still works.
    assert await admin.ctx.store.accounts.get_domain("x.example") is None
    assert (await admin.client.get("/mail")).status_code == 200
