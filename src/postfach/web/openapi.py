"""The OpenAPI 3.1 description of the admin API (admin_api.py, and the mailing
part from openapi_mailing.py), served at /api/v1/openapi.json. Kept by hand
next to the routes; a test checks that both list the same operations."""

from __future__ import annotations

from typing import Any

from postfach.web.openapi_mailing import MAILING_PATHS, MAILING_SCHEMAS
from postfach.web.openapi_parts import B, I, N, S, list_of, obj, op, path_param, ref

__all__ = ["OPENAPI"]


_SCHEMAS = {
    "Problem": obj(["type", "title", "status"], type=S, title=S, status=I,
                    detail=S, instance=S),
    "Domain": obj(["name"], name=S),
    "Account": obj(
        ["address"], address=S, quota_bytes=I, used_bytes=I, imap_enabled=B,
        pop3_enabled=B, pop3_folders={"type": "array", "items": S}, pop3_mark_read=B,
        pop3_delete={"enum": ["keep", "trash", "expunge"]}, save_sent=B,
    ),
    "NewAccount": obj(["address", "password"], address=S, password=S, quota_bytes=I),
    "AccountSettings": obj(
        [], quota_bytes=I, imap_enabled=B, pop3_enabled=B,
        pop3_folders={"type": "array", "items": S}, pop3_mark_read=B,
        pop3_delete={"enum": ["keep", "trash", "expunge"]}, save_sent=B,
    ),
    "Password": obj(["password"], password=S),
    "Logout": obj(["address", "credentials_generation"], address=S, credentials_generation=I),
    "AppPassword": obj(["name", "created"], name=S, created=N),
    "NewAppPassword": obj(["name"], name=S),
    "CreatedAppPassword": obj(["name", "created", "password"], name=S, created=N, password=S),
    "Alias": obj(["address", "target"], address=S, target=S),
    "QueueEntry": obj(
        ["id", "sender", "size", "created", "recipients"], id=I, sender=S, size=I,
        created=N, recipients={"type": "array", "items": obj(
            ["address", "status"], address=S, status=S, attempts=I, next_attempt=N,
            last_error=S)},
    ),
    "Retried": obj(["recipients"], recipients=I),
    "SpamSettings": obj(
        ["file_threshold", "reject_threshold", "allow", "block"],
        file_threshold={"type": ["number", "null"]}, reject_threshold={"type": ["number", "null"]},
        allow={"type": "array", "items": S}, block={"type": "array", "items": S},
    ),
    "SpamThresholds": obj(
        [], file_threshold={"type": ["number", "null"]},
        reject_threshold={"type": ["number", "null"]},
    ),
    "SpamSender": obj(["kind"], kind={"enum": ["allow", "block"]}),
}  # fmt: skip

_ADDRESS = [path_param("address")]

_PATHS: dict[str, dict[str, Any]] = {
    "/domains": {
        "get": op("List domains", schema=list_of("Domain")),
        "post": op("Add a domain", "201", ref("Domain"), "Domain"),
    },
    "/domains/{name}": {
        "parameters": [path_param("name")],
        "delete": op("Remove a domain that has no accounts", "204"),
    },
    "/accounts": {
        "get": op("List accounts", schema=list_of("Account")),
        "post": op("Add an account with its standard folders", "201", ref("Account"),
                    "NewAccount"),
    },
    "/accounts/{address}": {
        "parameters": _ADDRESS,
        "get": op("One account", schema=ref("Account")),
        "patch": op("Change settings", schema=ref("Account"), body="AccountSettings"),
        "delete": op("Remove an account and its mail", "204"),
    },
    "/accounts/{address}/password": {
        "parameters": _ADDRESS,
        "put": op("Set the password; clients with the old one are refused", "204",
                   body="Password"),
    },
    "/accounts/{address}/logout": {
        "parameters": _ADDRESS,
        "post": op("Log out on all devices (web, IMAP, POP3, SMTP)", schema=ref("Logout")),
    },
    "/accounts/{address}/app-passwords": {
        "parameters": _ADDRESS,
        "get": op("List app passwords", schema=list_of("AppPassword")),
        "post": op("Make an app password; the response shows it once", "201",
                    ref("CreatedAppPassword"), "NewAppPassword"),
    },
    "/accounts/{address}/app-passwords/{name}": {
        "parameters": [*_ADDRESS, path_param("name")],
        "delete": op("Revoke one app password", "204"),
    },
    "/accounts/{address}/spam": {
        "parameters": _ADDRESS,
        "get": op("The account's spam thresholds (null: the server's) and sender lists",
                   schema=ref("SpamSettings")),
        "patch": op("Set the account's spam thresholds; null: the server's",
                     schema=ref("SpamSettings"), body="SpamThresholds"),
    },
    "/accounts/{address}/spam/senders/{entry}": {
        "parameters": [*_ADDRESS, path_param("entry")],
        "put": op("Put an address or domain on the allow or block list",
                   schema=ref("SpamSettings"), body="SpamSender"),
        "delete": op("Take an address or domain off the lists", "204"),
    },
    "/aliases": {
        "get": op("List aliases", schema=list_of("Alias")),
        "post": op("Add an alias", "201", ref("Alias"), "Alias"),
    },
    "/aliases/{address}": {
        "parameters": _ADDRESS,
        "delete": op("Remove an alias", "204"),
    },
    "/queue": {"get": op("The outbound queue", schema=list_of("QueueEntry"))},
    "/queue/retry": {"post": op("Try every queued message again now", schema=ref("Retried"))},
    "/queue/{id}/retry": {
        "parameters": [path_param("id", "integer")],
        "post": op("Try one queued message again now", schema=ref("Retried")),
    },
    "/queue/{id}": {
        "parameters": [path_param("id", "integer")],
        "delete": op("Drop a queued message unsent", "204"),
    },
}  # fmt: skip

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "postfach admin API",
        "version": "1",
        "description": "Bearer tokens: `postfach admin token NAME`. Errors: RFC 9457.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {**_PATHS, **MAILING_PATHS},
    "components": {
        "schemas": {**_SCHEMAS, **MAILING_SCHEMAS},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
