"""The OpenAPI 3.1 description of the admin API (admin_api.py), served at
/api/v1/openapi.json. Kept by hand next to the routes; a test checks that both
list the same operations."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_PROBLEM = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
_ERRORS = {
    "401": {"description": "No valid admin token", **_PROBLEM},
    "404": {"description": "Not found", **_PROBLEM},
    "409": {"description": "Exists already", **_PROBLEM},
    "422": {"description": "Invalid request", **_PROBLEM},
}


def _op(summary: str, ok: str = "200", schema: dict[str, Any] | None = None,
        body: str | None = None) -> dict[str, Any]:  # fmt: skip
    response: dict[str, Any] = {"description": "OK" if ok != "204" else "Done"}
    if schema is not None:
        response.update(_json(schema))
    op: dict[str, Any] = {"summary": summary, "responses": {ok: response, **_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    return op


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _path_param(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_S = {"type": "string"}
_B = {"type": "boolean"}
_I = {"type": "integer"}
_N = {"type": "number"}

_SCHEMAS = {
    "Problem": _obj(["type", "title", "status"], type=_S, title=_S, status=_I,
                    detail=_S, instance=_S),
    "Domain": _obj(["name"], name=_S),
    "Account": _obj(
        ["address"], address=_S, quota_bytes=_I, used_bytes=_I, imap_enabled=_B,
        pop3_enabled=_B, pop3_folders={"type": "array", "items": _S}, pop3_mark_read=_B,
        pop3_delete={"enum": ["keep", "trash", "expunge"]}, save_sent=_B,
    ),
    "NewAccount": _obj(["address", "password"], address=_S, password=_S, quota_bytes=_I),
    "AccountSettings": _obj(
        [], quota_bytes=_I, imap_enabled=_B, pop3_enabled=_B,
        pop3_folders={"type": "array", "items": _S}, pop3_mark_read=_B,
        pop3_delete={"enum": ["keep", "trash", "expunge"]}, save_sent=_B,
    ),
    "Password": _obj(["password"], password=_S),
    "Logout": _obj(["address", "credentials_generation"], address=_S, credentials_generation=_I),
    "AppPassword": _obj(["name", "created"], name=_S, created=_N),
    "NewAppPassword": _obj(["name"], name=_S),
    "CreatedAppPassword": _obj(["name", "created", "password"], name=_S, created=_N, password=_S),
    "Alias": _obj(["address", "target"], address=_S, target=_S),
    "QueueEntry": _obj(
        ["id", "sender", "size", "created", "recipients"], id=_I, sender=_S, size=_I,
        created=_N, recipients={"type": "array", "items": _obj(
            ["address", "status"], address=_S, status=_S, attempts=_I, next_attempt=_N,
            last_error=_S)},
    ),
    "Retried": _obj(["recipients"], recipients=_I),
}  # fmt: skip

_ADDRESS = [_path_param("address")]

_PATHS: dict[str, dict[str, Any]] = {
    "/domains": {
        "get": _op("List domains", schema=_list("Domain")),
        "post": _op("Add a domain", "201", _ref("Domain"), "Domain"),
    },
    "/domains/{name}": {
        "parameters": [_path_param("name")],
        "delete": _op("Remove a domain that has no accounts", "204"),
    },
    "/accounts": {
        "get": _op("List accounts", schema=_list("Account")),
        "post": _op("Add an account with its standard folders", "201", _ref("Account"),
                    "NewAccount"),
    },
    "/accounts/{address}": {
        "parameters": _ADDRESS,
        "get": _op("One account", schema=_ref("Account")),
        "patch": _op("Change settings", schema=_ref("Account"), body="AccountSettings"),
        "delete": _op("Remove an account and its mail", "204"),
    },
    "/accounts/{address}/password": {
        "parameters": _ADDRESS,
        "put": _op("Set the password; clients with the old one are refused", "204",
                   body="Password"),
    },
    "/accounts/{address}/logout": {
        "parameters": _ADDRESS,
        "post": _op("Log out on all devices (web, IMAP, POP3, SMTP)", schema=_ref("Logout")),
    },
    "/accounts/{address}/app-passwords": {
        "parameters": _ADDRESS,
        "get": _op("List app passwords", schema=_list("AppPassword")),
        "post": _op("Make an app password; the response shows it once", "201",
                    _ref("CreatedAppPassword"), "NewAppPassword"),
    },
    "/accounts/{address}/app-passwords/{name}": {
        "parameters": [*_ADDRESS, _path_param("name")],
        "delete": _op("Revoke one app password", "204"),
    },
    "/aliases": {
        "get": _op("List aliases", schema=_list("Alias")),
        "post": _op("Add an alias", "201", _ref("Alias"), "Alias"),
    },
    "/aliases/{address}": {
        "parameters": _ADDRESS,
        "delete": _op("Remove an alias", "204"),
    },
    "/queue": {"get": _op("The outbound queue", schema=_list("QueueEntry"))},
    "/queue/retry": {"post": _op("Try every queued message again now", schema=_ref("Retried"))},
    "/queue/{id}/retry": {
        "parameters": [_path_param("id", "integer")],
        "post": _op("Try one queued message again now", schema=_ref("Retried")),
    },
    "/queue/{id}": {
        "parameters": [_path_param("id", "integer")],
        "delete": _op("Drop a queued message unsent", "204"),
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
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
