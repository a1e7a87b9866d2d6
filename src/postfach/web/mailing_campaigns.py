"""Campaigns through the admin API (issue 6 §2, §5, §7; R24, R26).

    GET, POST /api/v1/mailing/campaigns
    GET       /api/v1/mailing/campaigns/{name}?offset=&limit=
    POST      /api/v1/mailing/campaigns/{name}/send

Creating takes the subject and bodies as Jinja2 templates, an optional fixed
sender, and attachments as base64. Sending queues the list's eligible contacts
(unsubscribed and bounced ones stay out) and starts a run in the background:
the answer is 202 with the campaign's URL in Location, where the counts, the
run's progress and each recipient's outcome (state, relay, the relay's own
reply) can be followed, a page at a time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import mimetypes
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from postfach.mailing.api import Mailing
from postfach.mailing.scheduler import RunReport
from postfach.store.mailing import Campaign, RecipientRow
from postfach.web.apitools import field, read_json
from postfach.web.mailing_api import BASE, mailing_endpoint, mailing_of, name_field, page_of
from postfach.web.problems import Problem

__all__ = ["SendRuns", "routes", "runs_of", "stop_runs"]

log = logging.getLogger(__name__)

MAX_CAMPAIGN_BODY = 32 * 1024 * 1024
STATES = ("draft", "sending", "done")
TEXT_FIELDS = ("subject", "text", "html", "from_name", "from_address")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


# -- background runs --------------------------------------------------------------


@dataclass(slots=True)
class SendRun:
    """One run started through the API: its task, then its report or error."""

    started: float
    task: asyncio.Task[None] | None = None
    report: RunReport | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def json(self) -> dict[str, object]:
        out: dict[str, object] = {"running": self.running, "started": self.started}
        if self.report is not None:
            r = self.report
            out.update(sent=r.sent, failed=r.failed, deferred=r.deferred, finished=r.finished,
                       stopped=r.stopped, set_aside=dict(r.set_aside))  # fmt: skip
        if self.error:
            out["error"] = self.error
        return out


class SendRuns:
    """The campaigns this web app is sending; one run per campaign at a time."""

    def __init__(self) -> None:
        self._runs: dict[int, SendRun] = {}

    def get(self, campaign_id: int) -> SendRun | None:
        return self._runs.get(campaign_id)

    def start(self, mailing: Mailing, campaign: Campaign) -> bool:
        """Starts a run unless one is going; True if this call started it."""
        current = self._runs.get(campaign.id)
        if current is not None and current.running:
            return False
        run = SendRun(time.time())
        run.task = asyncio.create_task(
            _send(mailing, campaign, run), name=f"api-send-{campaign.id}"
        )
        self._runs[campaign.id] = run
        return True

    async def stop(self) -> None:
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _send(mailing: Mailing, campaign: Campaign, run: SendRun) -> None:
    try:
        run.report = await mailing.send(campaign.name)
    except Exception:
        log.exception("mailing: campaign %s failed", campaign.name)
        run.error = "the run failed; the server log says why"


def runs_of(app: Starlette) -> SendRuns:
    state = app.state
    runs: SendRuns | None = getattr(state, "mailing_runs", None)
    if runs is None:
        runs = SendRuns()
        state.mailing_runs = runs
    return runs


async def stop_runs(app: Starlette) -> None:
    """Ends the runs at shutdown; their recipients stay queued for the next run."""
    runs: SendRuns | None = getattr(app.state, "mailing_runs", None)
    if runs is not None:
        await runs.stop()


# -- JSON -------------------------------------------------------------------------


def campaign_json(campaign: Campaign, list_name: str, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "list": list_name,
        "subject": campaign.subject,
        "from_name": campaign.from_name,
        "from_address": campaign.from_address,
        "state": campaign.state,
        "counts": counts,
    }


def recipient_json(row: RecipientRow) -> dict[str, object]:
    return {
        "email": row.email,
        "state": row.state,
        "attempts": row.attempts,
        "relay": row.relay_name,
        "reply": row.reply,
        "updated": row.updated,
    }


def status_url(name: str) -> str:
    return f"{BASE}/campaigns/{quote(name, safe='')}"


async def _list_names(mailing: Mailing) -> dict[int, str]:
    names = {}
    for name, _count in await mailing.store.list_lists():
        list_id = await mailing.store.get_list(name)
        if list_id is not None:
            names[list_id] = name
    return names


async def _campaign(mailing: Mailing, name: str) -> Campaign:
    campaign = await mailing.store.get_campaign(name)
    if campaign is None:
        raise Problem(404, "not-found", f"no campaign named {name}")
    return campaign


# -- handlers ---------------------------------------------------------------------


async def list_campaigns(request: Request) -> Any:
    mailing = await mailing_of(request)
    found = [c for state in STATES for c in await mailing.store.campaigns_in_state(state)]
    names = await _list_names(mailing)
    return [
        campaign_json(c, names.get(c.list_id, ""), await mailing.store.counts(c.id))
        for c in sorted(found, key=lambda c: c.id)
    ]


def _attachment(item: object) -> tuple[str, str, bytes]:
    if not isinstance(item, dict):
        raise Problem(422, "invalid", "each attachment must be an object")
    filename = field(item, "filename", str)
    if not 0 < len(filename) <= 200 or not filename.isprintable() or set(filename) & set("/\\"):
        raise Problem(422, "invalid", "an attachment's filename must be 1 to 200 characters, "
                      "without '/' or '\\'")  # fmt: skip
    guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    content_type = field(item, "content_type", str, required=False) or guessed
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise Problem(422, "invalid", f"{content_type!r} is not a content type")
    try:
        data = base64.b64decode(field(item, "data", str), validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, "invalid", f"attachment {filename!r}: 'data' is not base64") from None
    return filename, content_type, data


async def create_campaign(request: Request) -> Any:
    data = await read_json(request, MAX_CAMPAIGN_BODY)
    unknown = set(data) - {"name", "list", "attachments", *TEXT_FIELDS}
    if unknown:
        raise Problem(422, "invalid", f"unknown field(s): {', '.join(sorted(unknown))}")
    name = name_field(data.get("name"), "'name'")
    list_name = field(data, "list", str)
    texts = {key: field(data, key, str, required=key == "subject") or "" for key in TEXT_FIELDS}
    files = [_attachment(a) for a in field(data, "attachments", list, required=False) or []]
    mailing = await mailing_of(request)
    if await mailing.store.get_list(list_name) is None:
        raise Problem(422, "invalid", f"no list named {list_name} (import contacts first)")
    campaign = await mailing.create_campaign(
        name, list_name, texts["subject"], text=texts["text"], html=texts["html"],
        from_name=texts["from_name"], from_address=texts["from_address"],
    )  # fmt: skip
    for filename, content_type, content in files:
        await mailing.store.add_attachment(campaign.id, filename, content_type, content)
    return campaign_json(campaign, list_name, {})


async def show_campaign(request: Request) -> Any:
    """The campaign, its counts, the API run's progress and a page of outcomes (R26)."""
    mailing = await mailing_of(request)
    offset, limit = page_of(request)
    campaign = await _campaign(mailing, request.path_params["name"])
    # The run before the state: a run shown as ended ended before the state was
    # read, so "done" and "running: false" never disagree.
    run = runs_of(request.app).get(campaign.id)
    run_json = run.json() if run is not None else None
    view = await mailing.show_campaign(campaign.name, offset + limit)
    attachments = await mailing.store.attachments(campaign.id)
    return {
        **campaign_json(view.campaign, view.list_name, view.counts),
        "text": view.campaign.text_body,
        "html": view.campaign.html_body,
        "attachments": [
            {"filename": f, "content_type": t, "size": len(d)} for f, t, d in attachments
        ],
        "run": run_json,
        "recipients": {
            "total": sum(view.counts.values()),
            "offset": offset,
            "limit": limit,
            "items": [recipient_json(r) for r in view.recipients[offset:]],
        },
    }


async def send_campaign(request: Request) -> Any:
    """Queues the eligible contacts and sends in the background: 202 and where to look."""
    mailing = await mailing_of(request)
    campaign = await _campaign(mailing, request.path_params["name"])
    queued = await mailing.queue(campaign.name)
    started = runs_of(request.app).start(mailing, campaign)
    url = status_url(campaign.name)
    body = {"campaign": campaign.name, "queued": queued, "started": started, "status_url": url}
    return JSONResponse(body, status_code=202, headers={"Location": url})


def routes() -> list[BaseRoute]:
    e = mailing_endpoint
    one = BASE + "/campaigns/{name}"
    return [
        Route(BASE + "/campaigns", e(list_campaigns), methods=["GET"]),
        Route(BASE + "/campaigns", e(create_campaign, 201), methods=["POST"]),
        Route(one, e(show_campaign), methods=["GET"]),
        Route(one + "/send", e(send_campaign, 202), methods=["POST"]),
    ]
