"""The mailing engine through the admin API (issue 6 §7; R22–R26).

Everything `postfach mailing ...` does, under /api/v1/mailing, through the same
facade (`postfach.mailing.api.Mailing`):

    relays     GET, POST /relays; GET, PATCH, DELETE /relays/{name};
               POST /relays/{name}/test
    lists      GET /lists; POST /lists/{name}/contacts (a text/csv body);
               GET /lists/{name}/contacts?offset=&limit=
    campaigns  GET, POST /campaigns; GET /campaigns/{name}?offset=&limit=;
               POST /campaigns/{name}/send (202, runs in the background)
    status     GET /status
    bounces    GET, POST /bounces; DELETE /bounces/{name};
               POST /bounces/check; POST /bounces/{name}/check

Relay and bounce-mailbox passwords are write-only: a response says whether
one is set, never what it is, and texts that come back from a relay or an
IMAP server are scrubbed of it. Campaigns live in mailing_campaigns.py.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postfach.mailing.api import BounceBoxSettings, Mailing, MailingError
from postfach.mailing.bouncebox import BoxResult
from postfach.mailing.relays import RelaySettings
from postfach.mailing.vault import VaultError
from postfach.store.mailing import BounceBox, Relay
from postfach.web.apitools import PREFIX, Handler, endpoint, field, read_body, read_json
from postfach.web.common import context
from postfach.web.problems import Problem

__all__ = [
    "BASE",
    "MAX_PAGE",
    "mailing_endpoint",
    "mailing_of",
    "name_field",
    "page_of",
    "routes",
    "scrub",
]

BASE = PREFIX + "/mailing"
MAX_CSV = 32 * 1024 * 1024
MAX_PAGE = 1000
DEFAULT_PAGE = 50
MAX_NAME = 100
MAX_INT = 2**31 - 1
CSV_TYPES = {"text/csv", "application/csv"}

# Relay settings the API takes, with their JSON types (RelaySettings' fields).
RELAY_FIELDS: dict[str, type] = {
    "kind": str,
    "sender_address": str,
    "sender_name": str,
    "host": str,
    "port": int,
    "security": str,
    "tls_verify": bool,
    "login": str,
    "password": str,
    "allow_substitution": bool,
    "hourly_limit": int,
    "daily_limit": int,
    "position": int,
    "enabled": bool,
    "concurrency": int,
    "per_connection": int,
}
BOX_FIELDS: dict[str, type] = {
    "host": str,
    "port": int,
    "login": str,
    "password": str,
    "security": str,
    "tls_verify": bool,
    "folder": str,
    "done_folder": str,
    "relay": str,
}


# -- shared by the mailing modules -------------------------------------------------


async def mailing_of(request: Request) -> Mailing:
    """The app's facade, made once over the context's mailing tables."""
    state = request.app.state
    mailing: Mailing | None = getattr(state, "mailing", None)
    if mailing is None:
        mailing = Mailing.of_process(context(request))
        state.mailing = mailing
    return mailing


def mailing_endpoint(
    handler: Handler, status: int = 200
) -> Callable[[Request], Awaitable[Response]]:
    """`endpoint`, with the facade's "exists already" errors as 409 (others are 422)."""

    @wraps(handler)
    async def run(request: Request) -> Any:
        try:
            return await handler(request)
        except MailingError as exc:
            if str(exc).endswith("exists already"):
                raise Problem(409, "conflict", str(exc)) from None
            raise

    return endpoint(run, status)


def name_field(value: object, what: str) -> str:
    """A name that can stand in a URL path: 1 to 100 printable characters, no '/'."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_NAME
        or value != value.strip()
        or "/" in value
        or not value.isprintable()
    ):
        raise Problem(
            422,
            "invalid",
            f"{what} must be 1 to {MAX_NAME} printable characters, "
            "without '/' or spaces at either end",
        )
    return value


def page_of(request: Request) -> tuple[int, int]:
    """(offset, limit) from the query string; 422 unless 0 <= offset, 1 <= limit <= 1000."""
    values = []
    for name, default, low, high in (
        ("offset", 0, 0, MAX_INT),
        ("limit", DEFAULT_PAGE, 1, MAX_PAGE),
    ):
        text = request.query_params.get(name, str(default))
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise Problem(422, "invalid", f"{name!r} must be a whole number from {low} to {high}")
        values.append(int(text))
    return values[0], values[1]


def scrub(text: str, secret: str) -> str:
    """`text` without `secret` in it (a server may echo what it was sent)."""
    return text.replace(secret, "***") if secret else text


def _settings(data: dict[str, Any], fields: dict[str, type], allowed: set[str]) -> dict[str, Any]:
    unknown = set(data) - set(fields) - allowed
    if unknown:
        raise Problem(422, "invalid", f"unknown field(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        if name in data:
            value = field(data, name, kind)
            if kind is int and not 0 <= value <= MAX_INT:
                raise Problem(422, "invalid", f"{name!r} must be from 0 to {MAX_INT}")
            values[name] = value
    return values


# -- relays -----------------------------------------------------------------------


def relay_json(relay: Relay) -> dict[str, object]:
    return {
        "name": relay.name,
        "kind": relay.kind,
        "sender_address": relay.sender_address,
        "sender_name": relay.sender_name,
        "host": relay.host,
        "port": relay.port,
        "security": relay.security,
        "tls_verify": relay.tls_verify,
        "login": relay.login,
        "password_set": bool(relay.password_enc),
        "allow_substitution": relay.allow_substitution,
        "hourly_limit": relay.hourly_limit,
        "daily_limit": relay.daily_limit,
        "position": relay.position,
        "enabled": relay.enabled,
        "concurrency": relay.concurrency,
        "per_connection": relay.per_connection,
    }


async def _relay(request: Request) -> tuple[Mailing, Relay]:
    mailing = await mailing_of(request)
    name = request.path_params["name"]
    relay = await mailing.store.get_relay(name)
    if relay is None:
        raise Problem(404, "not-found", f"no relay named {name}")
    return mailing, relay


async def list_relays(request: Request) -> Any:
    return [relay_json(r) for r in await (await mailing_of(request)).list_relays()]


async def add_relay(request: Request) -> Any:
    data = await read_json(request)
    name = name_field(data.get("name"), "'name'")
    values = _settings(data, RELAY_FIELDS, {"name"})
    values.setdefault("kind", "external")
    if "sender_address" not in values:
        raise Problem(422, "invalid", "'sender_address' must be a string")
    relay = await (await mailing_of(request)).add_relay(RelaySettings(name=name, **values))
    return relay_json(relay)


async def get_relay(request: Request) -> Any:
    return relay_json((await _relay(request))[1])


async def update_relay(request: Request) -> Any:
    mailing, relay = await _relay(request)
    changes = _settings(await read_json(request), RELAY_FIELDS, set())
    if changes:
        relay = await mailing.update_relay(relay.name, **changes)
    return relay_json(relay)


async def remove_relay(request: Request) -> Any:
    mailing, relay = await _relay(request)
    await mailing.remove_relay(relay.name)


async def test_relay(request: Request) -> Any:
    """Connects and logs in (R22); 200 either way, `ok` says how it went."""
    mailing, relay = await _relay(request)
    try:
        secret = mailing.vault.decrypt(relay.password_enc)
        ok, text = await mailing.test_relay(relay.name)
    except VaultError as exc:
        return {"ok": False, "message": str(exc)}
    return {"ok": ok, "message": scrub(text, secret)}


# -- lists ------------------------------------------------------------------------


async def list_lists(request: Request) -> Any:
    lists = await (await mailing_of(request)).store.list_lists()
    return [{"name": name, "contacts": count} for name, count in lists]


def _csv_text(request: Request, raw: bytes) -> str:
    media, _, params = request.headers.get("content-type", "").partition(";")
    if media.strip().lower() not in CSV_TYPES:
        raise Problem(415, "unsupported-media-type", "send the contacts as text/csv")
    charset = "utf-8-sig"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        codecs.lookup(charset)
    except LookupError:
        raise Problem(415, "unsupported-media-type", f"unknown charset {charset!r}") from None
    return raw.decode(charset, errors="replace")


async def import_contacts(request: Request) -> Any:
    """A CSV file as the body (R22 guide §2): rows added or merged, bad rows by line."""
    name = name_field(request.path_params["name"], "the list name")
    text = _csv_text(request, await read_body(request, MAX_CSV))
    report = await (await mailing_of(request)).import_csv(name, text)
    return {
        "list": report.list_name,
        "added": report.added,
        "merged": report.merged,
        "columns": report.columns,
        "invalid_rows": [{"line": line, "reason": reason} for line, reason in report.errors],
    }


async def list_contacts(request: Request) -> Any:
    mailing = await mailing_of(request)
    name = request.path_params["name"]
    offset, limit = page_of(request)
    list_id = await mailing.store.get_list(name)
    if list_id is None:
        raise Problem(404, "not-found", f"no list named {name}")
    contacts = await mailing.store.list_contacts(list_id)
    items = [
        {
            "email": c.email,
            "fields": c.fields,
            "unsubscribed": c.unsubscribed,
            "bounced": c.bounced,
            "soft_bounces": c.soft_bounces,
        }
        for c in contacts[offset : offset + limit]
    ]
    return {"list": name, "total": len(contacts), "offset": offset, "limit": limit,
            "contacts": items}  # fmt: skip


# -- status -----------------------------------------------------------------------


async def status(request: Request) -> Any:
    """Per relay: sent this hour and today, what is left, when room opens (R24)."""
    return [
        {
            "relay": s.relay.name,
            "enabled": s.relay.enabled,
            "sent_hour": s.quota.sent_hour,
            "sent_day": s.quota.sent_day,
            "remaining_hour": s.quota.remaining_hour,
            "remaining_day": s.quota.remaining_day,
            "next_window": s.quota.next_window,
        }
        for s in await (await mailing_of(request)).status()
    ]


# -- bounce mailboxes -------------------------------------------------------------


def box_json(box: BounceBox) -> dict[str, object]:
    return {
        "name": box.name,
        "relay": box.relay_name,
        "host": box.host,
        "port": box.port,
        "security": box.security,
        "tls_verify": box.tls_verify,
        "login": box.login,
        "password_set": bool(box.password_enc),
        "folder": box.folder,
        "done_folder": box.done_folder,
        "last_check": box.last_check,
        "last_result": box.last_result,
    }


async def _box(mailing: Mailing, name: str) -> BounceBox:
    for box in await mailing.list_bounce_boxes():
        if box.name == name:
            return box
    raise Problem(404, "not-found", f"no bounce mailbox named {name}")


async def list_boxes(request: Request) -> Any:
    return [box_json(b) for b in await (await mailing_of(request)).list_bounce_boxes()]


async def add_box(request: Request) -> Any:
    data = await read_json(request)
    name = name_field(data.get("name"), "'name'")
    values = _settings(data, BOX_FIELDS, {"name"})
    for required in ("host", "login", "password"):
        if required not in values:
            raise Problem(422, "invalid", f"{required!r} must be a string")
    values["relay_name"] = values.pop("relay", "")
    mailing = await mailing_of(request)
    await mailing.add_bounce_box(BounceBoxSettings(name=name, **{"port": 993, **values}))
    return box_json(await _box(mailing, name))


async def remove_box(request: Request) -> Any:
    mailing = await mailing_of(request)
    box = await _box(mailing, request.path_params["name"])
    await mailing.remove_bounce_box(box.name)


@dataclass(frozen=True, slots=True)
class _Checked:
    name: str
    result: BoxResult | str
    secret: str

    def json(self) -> dict[str, object]:
        if isinstance(self.result, str):
            return {"name": self.name, "ok": False, "error": scrub(self.result, self.secret)}
        r = self.result
        return {"name": self.name, "ok": True, "read": r.read, "hard": r.hard, "soft": r.soft,
                "unsubscribed": r.unsubscribed, "skipped": r.skipped}  # fmt: skip


async def check_boxes(request: Request) -> Any:
    """Reads each bounce mailbox (or the named one) now (R25); a result per mailbox."""
    mailing = await mailing_of(request)
    name = request.path_params.get("name")
    boxes = await mailing.list_bounce_boxes()
    if name is not None:
        boxes = [await _box(mailing, name)]
    passwords = {}
    for box in boxes:
        try:
            passwords[box.name] = mailing.vault.decrypt(box.password_enc)
        except VaultError:
            passwords[box.name] = ""
    results = await mailing.check_bounces(name)
    return [_Checked(n, r, passwords.get(n, "")).json() for n, r in results.items()]


def routes() -> list[BaseRoute]:
    e = mailing_endpoint
    relay = BASE + "/relays/{name}"
    return [
        Route(BASE + "/relays", e(list_relays), methods=["GET"]),
        Route(BASE + "/relays", e(add_relay, 201), methods=["POST"]),
        Route(relay, e(get_relay), methods=["GET"]),
        Route(relay, e(update_relay), methods=["PATCH"]),
        Route(relay, e(remove_relay), methods=["DELETE"]),
        Route(relay + "/test", e(test_relay), methods=["POST"]),
        Route(BASE + "/lists", e(list_lists), methods=["GET"]),
        Route(BASE + "/lists/{name}/contacts", e(import_contacts), methods=["POST"]),
        Route(BASE + "/lists/{name}/contacts", e(list_contacts), methods=["GET"]),
        Route(BASE + "/status", e(status), methods=["GET"]),
        Route(BASE + "/bounces", e(list_boxes), methods=["GET"]),
        Route(BASE + "/bounces", e(add_box, 201), methods=["POST"]),
        Route(BASE + "/bounces/check", e(check_boxes), methods=["POST"]),
        Route(BASE + "/bounces/{name}", e(remove_box), methods=["DELETE"]),
        Route(BASE + "/bounces/{name}/check", e(check_boxes), methods=["POST"]),
    ]
