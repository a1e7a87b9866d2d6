"""The newsletter pages (R22–R26), as the guide's CRM has them, for admins.

- The servers (relays) in sending order: each one's room this hour and today
  beside its name, and a plain "limit reached" with when room opens again; a
  form to add one (internal or external, sender, host, port, login, password,
  security, "allow sender substitution", hourly and daily limits); test,
  remove.
- The campaigns: how many wait in the queue and when sending resumes when every
  relay is full; each recipient's outcome in the relay's own words. A campaign
  page that is still sending refreshes itself (a `<meta http-equiv="refresh">`:
  the pages run no scripts).
- The bounce mailboxes: their settings and what the last check found.

Everything goes through the facade the CLI and the API use (mailing.api.Mailing).
Relay and mailbox passwords are write-only here too.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.mailing.api import BounceBoxSettings, MailingError, RelayStatus
from postfach.mailing.relays import RelayConfigError, RelaySettings
from postfach.mailing.vault import VaultError
from postfach.web.admin_pages import admin_action, admin_page
from postfach.web.common import render, whole_number
from postfach.web.mailing_api import mailing_of, scrub
from postfach.web.mailing_campaigns import STATES, runs_of
from postfach.web.sessions import User

__all__ = ["routes"]

REFRESH_SECONDS = 5
SHOWN_RECIPIENTS = 500
_ERRORS = (MailingError, RelayConfigError, VaultError, ValueError)


def _int(value: object, default: int = 0) -> int:
    """A number typed into a form field, spaces around it forgiven."""
    return whole_number(str(value or "").strip(), default)


def _room(status: RelayStatus, now: float) -> dict[str, object]:
    """What the page says of a relay's windows."""
    quota, relay = status.quota, status.relay
    full = quota.remaining_hour == 0 or quota.remaining_day == 0
    opens = ""
    if full and quota.next_window:
        minutes = max(1, round((quota.next_window - now) / 60))
        opens = f"room again in {minutes} min ({_clock(quota.next_window)})"

    def left(remaining: int | None, limit: int) -> str:
        return "no limit" if remaining is None else f"{remaining} of {limit} left"

    return {
        "hour": left(quota.remaining_hour, relay.hourly_limit),
        "day": left(quota.remaining_day, relay.daily_limit),
        "sent_hour": quota.sent_hour, "sent_day": quota.sent_day, "full": full, "opens": opens,
    }  # fmt: skip


def _clock(moment: float) -> str:
    return time.strftime("%H:%M", time.localtime(moment))


async def _page(request: Request, user: User, error: str = "", flash: str = "") -> Response:
    mailing = await mailing_of(request)
    now = time.time()
    statuses = await mailing.status()
    campaigns = [c for state in STATES for c in await mailing.store.campaigns_in_state(state)]
    counted = [
        (c, await mailing.store.counts(c.id)) for c in sorted(campaigns, key=lambda c: -c.id)
    ]
    return render(
        request, "admin_mailing.html", status=422 if error else 200, user=user, csrf=user.csrf,
        relays=[(s.relay, _room(s, now)) for s in statuses], campaigns=counted,
        boxes=await mailing.list_bounce_boxes(), when=_when, quote=quote,
        error=error, flash=flash or request.query_params.get("done", ""),
    )  # fmt: skip


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(moment)) if moment else "never"


def _done(text: str) -> Response:
    return RedirectResponse("/admin/mailing?" + urlencode({"done": text}), status_code=303)


@admin_page
async def overview(request: Request, user: User) -> Response:
    return await _page(request, user)


@admin_action
async def add_relay(request: Request, user: User, form: FormData) -> Response:
    def text(name: str) -> str:
        return str(form.get(name, "")).strip()[:500]

    settings = RelaySettings(
        name=text("name"), kind=text("kind") or "external", sender_address=text("sender_address"),
        sender_name=text("sender_name"), host=text("host"), port=_int(form.get("port")),
        security=text("security") or "starttls", login=text("login"),
        password=str(form.get("password", ""))[:1024],
        allow_substitution=form.get("allow_substitution") == "on",
        hourly_limit=_int(form.get("hourly_limit")), daily_limit=_int(form.get("daily_limit")),
    )  # fmt: skip
    try:
        relay = await (await mailing_of(request)).add_relay(settings)
    except _ERRORS as exc:
        return await _page(request, user, error=scrub(str(exc), settings.password))
    return _done(f"Added the relay {relay.name}.")


@admin_action
async def remove_relay(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", ""))
    try:
        await (await mailing_of(request)).remove_relay(name)
    except _ERRORS as exc:
        return await _page(request, user, error=str(exc))
    return _done(f"Removed the relay {name}.")


@admin_action
async def test_relay(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", ""))
    try:
        ok, said = await (await mailing_of(request)).test_relay(name)
    except _ERRORS as exc:
        return await _page(request, user, error=str(exc))
    return await _page(request, user, flash=said) if ok else await _page(request, user, error=said)


@admin_action
async def add_box(request: Request, user: User, form: FormData) -> Response:
    def text(name: str, default: str = "") -> str:
        return str(form.get(name, "")).strip()[:500] or default

    password = str(form.get("password", ""))[:1024]
    settings = BounceBoxSettings(
        text("name"), text("host"), _int(form.get("port"), 993), text("login"), password,
        security=text("security", "tls"), folder=text("folder", "INBOX"),
        done_folder=text("done_folder", "Processed"), relay_name=text("relay"),
    )  # fmt: skip
    try:
        await (await mailing_of(request)).add_bounce_box(settings)
    except _ERRORS as exc:
        return await _page(request, user, error=scrub(str(exc), password))
    return _done(f"Added the bounce mailbox {settings.name}.")


@admin_action
async def remove_box(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", ""))
    try:
        await (await mailing_of(request)).remove_bounce_box(name)
    except _ERRORS as exc:
        return await _page(request, user, error=str(exc))
    return _done(f"Removed the bounce mailbox {name}.")


@admin_action
async def check_boxes(request: Request, user: User, form: FormData) -> Response:
    name = str(form.get("name", "")) or None
    try:
        results = await (await mailing_of(request)).check_bounces(name)
    except _ERRORS as exc:
        return await _page(request, user, error=str(exc))
    said = "; ".join(
        f"{box}: {r if isinstance(r, str) else r.summary()}" for box, r in results.items()
    )
    return _done(said or "No bounce mailboxes to check.")


@admin_page
async def campaign_page(request: Request, user: User) -> Response:
    mailing = await mailing_of(request)
    try:
        view = await mailing.show_campaign(request.query_params.get("name", ""), SHOWN_RECIPIENTS)
    except MailingError as exc:
        return await _page(request, user, error=str(exc))
    run = runs_of(request.app).get(view.campaign.id)
    waiting = view.counts.get("queued", 0)
    statuses = await mailing.status()
    now = time.time()
    usable = [s for s in statuses if s.relay.enabled]
    resumes = ""
    if waiting and usable and all(_room(s, now)["full"] for s in usable):
        opens = [s.quota.next_window for s in usable if s.quota.next_window]
        resumes = _when(min(opens)) if opens else ""
    sending = bool(run is not None and run.running) or view.campaign.state == "sending"
    return render(
        request, "admin_campaign.html", user=user, csrf=user.csrf, view=view, waiting=waiting,
        resumes=resumes, sending=sending, refresh=REFRESH_SECONDS if sending and waiting else 0,
        when=_when, shown=SHOWN_RECIPIENTS,
    )  # fmt: skip


@admin_action
async def send_campaign(request: Request, user: User, form: FormData) -> Response:
    mailing = await mailing_of(request)
    name = str(form.get("name", ""))
    try:
        campaign = await mailing.campaign(name)
        await mailing.queue(campaign.name)
    except _ERRORS as exc:
        return await _page(request, user, error=str(exc))
    runs_of(request.app).start(mailing, campaign)
    return RedirectResponse(f"/admin/mailing/campaign?name={quote(name)}", status_code=303)


def routes() -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/admin/mailing", overview, methods=["GET"]),
        Route("/admin/mailing/relays", add_relay, methods=post),
        Route("/admin/mailing/relays/remove", remove_relay, methods=post),
        Route("/admin/mailing/relays/test", test_relay, methods=post),
        Route("/admin/mailing/bounces", add_box, methods=post),
        Route("/admin/mailing/bounces/remove", remove_box, methods=post),
        Route("/admin/mailing/bounces/check", check_boxes, methods=post),
        Route("/admin/mailing/campaign", campaign_page, methods=["GET"]),
        Route("/admin/mailing/campaign/send", send_campaign, methods=post),
    ]
