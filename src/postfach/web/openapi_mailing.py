"""The mailing part of the admin API's OpenAPI document (mailing_api.py and
mailing_campaigns.py): paths under /mailing and their schemas."""

from __future__ import annotations

from typing import Any

from postfach.web.openapi_parts import (
    B,
    I,
    N,
    S,
    list_of,
    obj,
    op,
    path_param,
    query_param,
    ref,
)

__all__ = ["MAILING_PATHS", "MAILING_SCHEMAS"]

_STRINGS = {"type": "array", "items": S}
_SECURITY = {"enum": ["none", "tls", "starttls"]}
_PASSWORD = {"type": "string", "writeOnly": True, "description": "never returned"}
_MAYBE_I = {"type": ["integer", "null"], "description": "null: no limit"}
_RELAY_SETTINGS: dict[str, Any] = dict(
    kind={"enum": ["internal", "external"]}, sender_address=S, sender_name=S, host=S, port=I,
    security=_SECURITY, tls_verify=B, login=S, allow_substitution=B, hourly_limit=I,
    daily_limit=I, position=I, enabled=B, concurrency=I, per_connection=I,
)  # fmt: skip
_RUN = obj(
    ["running", "started"], running=B, started=N, sent=I, failed=I, deferred=I, finished=B,
    stopped=S, set_aside={"type": "object", "additionalProperties": S}, error=S,
)  # fmt: skip
_RECIPIENT = obj(
    ["email", "state"], email=S, state={"enum": ["queued", "sent", "failed", "bounced"]},
    attempts=I, relay=S, reply=S, updated=N,
)  # fmt: skip
_COUNTS = {"type": "object", "additionalProperties": I, "description": "recipients per state"}
_CAMPAIGN_FIELDS: dict[str, Any] = dict(
    name=S, list=S, subject=S, from_name=S, from_address=S,
    state={"enum": ["draft", "sending", "done"]}, counts=_COUNTS,
)  # fmt: skip

MAILING_SCHEMAS: dict[str, Any] = {
    "Relay": obj(["name", "kind", "sender_address"], name=S, password_set=B, **_RELAY_SETTINGS),
    "NewRelay": obj(["name", "sender_address"], name=S, password=_PASSWORD, **_RELAY_SETTINGS),
    "RelaySettings": obj([], password=_PASSWORD, **_RELAY_SETTINGS),
    "RelayTest": obj(["ok", "message"], ok=B, message=S),
    "RelayStatus": obj(
        ["relay", "sent_hour", "sent_day"], relay=S, enabled=B, sent_hour=I, sent_day=I,
        remaining_hour=_MAYBE_I, remaining_day=_MAYBE_I,
        next_window={"type": ["number", "null"]},
    ),
    "ContactList": obj(["name", "contacts"], name=S, contacts=I),
    "ImportReport": obj(
        ["list", "added", "merged", "invalid_rows"], list=S, added=I, merged=I,
        columns=_STRINGS,
        invalid_rows={"type": "array", "items": obj(["line", "reason"], line=I, reason=S)},
    ),
    "Contact": obj(
        ["email"], email=S, fields={"type": "object", "additionalProperties": S},
        unsubscribed=B, bounced=B, soft_bounces=I,
    ),
    "ContactPage": obj(
        ["list", "total", "offset", "limit", "contacts"], list=S, total=I, offset=I, limit=I,
        contacts=list_of("Contact"),
    ),
    "CampaignSummary": obj(["name", "list", "subject", "state"], **_CAMPAIGN_FIELDS),
    "NewCampaign": obj(
        ["name", "list", "subject"], name=S, list=S, subject=S, text=S, html=S, from_name=S,
        from_address=S,
        attachments={"type": "array", "items": obj(
            ["filename", "data"], filename=S, content_type=S,
            data={"type": "string", "contentEncoding": "base64"})},
    ),
    "Campaign": obj(
        ["name", "list", "subject", "state", "counts", "recipients"], **_CAMPAIGN_FIELDS,
        text=S, html=S,
        attachments={"type": "array", "items": obj(
            ["filename"], filename=S, content_type=S, size=I)},
        run={"oneOf": [_RUN, {"type": "null"}]},
        recipients=obj(["total", "offset", "limit", "items"], total=I, offset=I, limit=I,
                       items={"type": "array", "items": _RECIPIENT}),
    ),
    "SendStarted": obj(
        ["campaign", "queued", "started", "status_url"], campaign=S, queued=I, started=B,
        status_url=S,
    ),
    "BounceMailbox": obj(
        ["name", "host", "port", "login"], name=S, relay=S, host=S, port=I, security=_SECURITY,
        tls_verify=B, login=S, password_set=B, folder=S, done_folder=S, last_check=N,
        last_result=S,
    ),
    "NewBounceMailbox": obj(
        ["name", "host", "login", "password"], name=S, relay=S, host=S, port=I,
        security=_SECURITY, tls_verify=B, login=S, password=_PASSWORD, folder=S,
        done_folder=S,
    ),
    "BounceCheck": obj(
        ["name", "ok"], name=S, ok=B, read=I, hard=_STRINGS, soft=_STRINGS,
        unsubscribed=_STRINGS, skipped=I, error=S,
    ),
}  # fmt: skip

_NAME = [path_param("name")]
_PAGE = [
    query_param("offset", "how many to skip (default 0)"),
    query_param("limit", "how many to return, 1 to 1000 (default 50)"),
]

MAILING_PATHS: dict[str, dict[str, Any]] = {
    "/mailing/relays": {
        "get": op("Relays in sending order", schema=list_of("Relay")),
        "post": op("Add a relay (last in the order unless `position` says)", "201",
                   ref("Relay"), "NewRelay"),
    },
    "/mailing/relays/{name}": {
        "parameters": _NAME,
        "get": op("One relay", schema=ref("Relay")),
        "patch": op("Change settings (a password only replaces the old one)",
                    schema=ref("Relay"), body="RelaySettings"),
        "delete": op("Remove a relay", "204"),
    },
    "/mailing/relays/{name}/test": {
        "parameters": _NAME,
        "post": op("Connect and log in; `ok` and a plain-words account",
                   schema=ref("RelayTest")),
    },
    "/mailing/lists": {"get": op("Contact lists and their sizes",
                                 schema=list_of("ContactList"))},
    "/mailing/lists/{name}/contacts": {
        "parameters": _NAME,
        "get": op("A page of the list's contacts", schema=ref("ContactPage"), params=_PAGE),
        "post": op("Import contacts from CSV (the list is made if new); invalid rows are "
                   "reported by line", schema=ref("ImportReport"),
                   body="CSV: an e-mail column plus any others", media="text/csv",
                   extra={"413": "Too large", "415": "Not text/csv"}),
    },
    "/mailing/campaigns": {
        "get": op("Campaigns", schema=list_of("CampaignSummary")),
        "post": op("Create a campaign (templates are checked)", "201",
                   ref("CampaignSummary"), "NewCampaign", extra={"413": "Too large"}),
    },
    "/mailing/campaigns/{name}": {
        "parameters": _NAME,
        "get": op("A campaign, its counts and run, and a page of recipients' outcomes",
                  schema=ref("Campaign"), params=_PAGE),
    },
    "/mailing/campaigns/{name}/send": {
        "parameters": _NAME,
        "post": op("Queue the eligible contacts and send in the background; Location "
                   "names the status URL", "202", ref("SendStarted")),
    },
    "/mailing/status": {
        "get": op("Per relay: sent this hour and today, remaining, next window",
                  schema=list_of("RelayStatus")),
    },
    "/mailing/bounces": {
        "get": op("Bounce mailboxes and their last check", schema=list_of("BounceMailbox")),
        "post": op("Add an IMAP bounce mailbox", "201", ref("BounceMailbox"),
                   "NewBounceMailbox"),
    },
    "/mailing/bounces/check": {
        "post": op("Read every bounce mailbox now", schema=list_of("BounceCheck")),
    },
    "/mailing/bounces/{name}": {
        "parameters": _NAME,
        "delete": op("Remove a bounce mailbox", "204"),
    },
    "/mailing/bounces/{name}/check": {
        "parameters": _NAME,
        "post": op("Read this bounce mailbox now", schema=list_of("BounceCheck")),
    },
}  # fmt: skip
