"""The admin API: JSON over HTTP for domains, accounts, aliases, app
passwords, accounts' spam settings, the outbound queue and (mailing_api.py) the mailing engine,
described by an OpenAPI 3.1 document at /api/v1/openapi.json.

Every call needs `Authorization: Bearer <token>` with a token made by
`postfach admin token NAME` (stored hashed, store/web.py; apitools.py checks
it). Errors are RFC 9457
problem details (problems.py): 401 without a valid token, 404 for what does
not exist, 409 for what exists already, 422 for a bad request body.
Passwords and hashes never appear in a response, except the app password made
by POST .../app-passwords, once.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.auth.passwords import (
    generate_app_password,
    hash_password_async,
    normalize_app_password,
    password_problem,
)
from postfach.spam.decide import sender_entry
from postfach.store import NotFound
from postfach.store.api import StoreApi
from postfach.store.records import Account, Pop3Delete
from postfach.web import mailing_api, mailing_campaigns
from postfach.web.apitools import PREFIX, endpoint, field, read_json
from postfach.web.common import context
from postfach.web.openapi import OPENAPI
from postfach.web.problems import Problem

__all__ = ["account_json", "routes"]


def account_json(account: Account) -> dict[str, object]:
    return {
        "address": account.address,
        "quota_bytes": account.quota_bytes,
        "used_bytes": account.used_bytes,
        "imap_enabled": account.imap_enabled,
        "pop3_enabled": account.pop3_enabled,
        "pop3_folders": list(account.pop3_folders),
        "pop3_mark_read": account.pop3_mark_read,
        "pop3_delete": account.pop3_delete.value,
        "save_sent": account.save_sent,
    }


def _store(request: Request) -> StoreApi:
    return context(request).store


async def _account(request: Request) -> Account:
    address = request.path_params["address"]
    account = await _store(request).accounts.get_account(address)
    if account is None:
        raise NotFound(f"no account {address}")
    return account


def _address(value: str, what: str) -> str:
    local, at, domain = value.strip().lower().rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value.strip()):
        raise Problem(422, "invalid", f"{what} {value!r} is not an e-mail address")
    return f"{local}@{domain}"


def _password(value: str) -> str:
    problem = password_problem(value)
    if problem is not None:
        raise Problem(422, "invalid", problem)
    return value


# -- domains ---------------------------------------------------------------------


async def list_domains(request: Request) -> Any:
    return [{"name": d.name} for d in await _store(request).accounts.list_domains()]


async def add_domain(request: Request) -> Any:
    name = field(await read_json(request), "name", str).strip().lower()
    if not name or "@" in name or any(c.isspace() for c in name):
        raise Problem(422, "invalid", f"{name!r} is not a domain name")
    return {"name": (await _store(request).accounts.add_domain(name)).name}


async def remove_domain(request: Request) -> Any:
    await _store(request).accounts.remove_domain(request.path_params["name"])


# -- accounts --------------------------------------------------------------------


async def list_accounts(request: Request) -> Any:
    return [account_json(a) for a in await _store(request).accounts.list_accounts()]


async def add_account(request: Request) -> Any:
    data = await read_json(request)
    address = _address(field(data, "address", str), "address")
    password = _password(field(data, "password", str))
    quota = field(data, "quota_bytes", int, required=False) or 0
    store = _store(request)
    domain = address.rpartition("@")[2]
    if await store.accounts.get_domain(domain) is None:
        raise Problem(422, "invalid", f"{domain} is not a domain of this server")
    account = await store.accounts.add_account(address, await hash_password_async(password), quota)
    return account_json(account)


async def get_account(request: Request) -> Any:
    return account_json(await _account(request))


_BOOL_SETTINGS = ("imap_enabled", "pop3_enabled", "pop3_mark_read", "save_sent")


def _settings(data: dict[str, Any]) -> dict[str, object]:
    settings: dict[str, object] = {}
    for name in _BOOL_SETTINGS:
        if name in data:
            settings[name] = field(data, name, bool)
    if "quota_bytes" in data:
        quota = field(data, "quota_bytes", int)
        if quota < 0:
            raise Problem(422, "invalid", "'quota_bytes' must be 0 (unlimited) or more")
        settings["quota_bytes"] = quota
    if "pop3_folders" in data:
        folders = field(data, "pop3_folders", list)
        if not folders or not all(isinstance(f, str) and f for f in folders):
            raise Problem(422, "invalid", "'pop3_folders' must be a non-empty list of names")
        settings["pop3_folders"] = tuple(folders)
    if "pop3_delete" in data:
        choice = field(data, "pop3_delete", str)
        if choice not in {p.value for p in Pop3Delete}:
            raise Problem(422, "invalid", "'pop3_delete' must be keep, trash or expunge")
        settings["pop3_delete"] = Pop3Delete(choice)
    unknown = set(data) - set(_BOOL_SETTINGS) - {"quota_bytes", "pop3_folders", "pop3_delete"}
    if unknown:
        raise Problem(422, "invalid", f"unknown setting(s): {', '.join(sorted(unknown))}")
    return settings


async def update_account(request: Request) -> Any:
    account = await _account(request)
    settings = _settings(await read_json(request))
    if settings:
        account = await _store(request).accounts.update_account(account.id, **settings)
    return account_json(account)


async def remove_account(request: Request) -> Any:
    await _store(request).accounts.remove_account(request.path_params["address"])


async def set_password(request: Request) -> Any:
    account = await _account(request)
    password = _password(field(await read_json(request), "password", str))
    await _store(request).accounts.set_password_hash(
        account.id, await hash_password_async(password)
    )
    context(request).auth.forget(account.id)


async def logout_everywhere(request: Request) -> Any:
    account = await _account(request)
    generation = await _store(request).accounts.bump_credentials(account.id)
    context(request).auth.forget(account.id)
    return {"address": account.address, "credentials_generation": generation}


# -- app passwords ---------------------------------------------------------------


async def list_app_passwords(request: Request) -> Any:
    account = await _account(request)
    return [
        {"name": p.name, "created": p.created}
        for p in await _store(request).accounts.list_app_passwords(account.id)
    ]


async def add_app_password(request: Request) -> Any:
    account = await _account(request)
    name = field(await read_json(request), "name", str).strip()
    if not name or len(name) > 200:
        raise Problem(422, "invalid", "'name' must be 1 to 200 characters")
    password = generate_app_password()
    digest = await hash_password_async(normalize_app_password(password))
    created = await _store(request).accounts.add_app_password(account.id, name, digest)
    return {"name": created.name, "created": created.created, "password": password}


async def revoke_app_password(request: Request) -> Any:
    account = await _account(request)
    await _store(request).accounts.revoke_app_password(account.id, request.path_params["name"])
    context(request).auth.forget(account.id)


# -- spam settings ---------------------------------------------------------------


async def _spam_json(request: Request, account: Account) -> dict[str, object]:
    own = await _store(request).spam.settings(account.id)
    return {
        "file_threshold": own.file_threshold,
        "reject_threshold": own.reject_threshold,
        "allow": sorted(own.allow),
        "block": sorted(own.block),
    }


async def get_spam(request: Request) -> Any:
    return await _spam_json(request, await _account(request))


def _threshold(data: dict[str, Any], name: str, current: float | None) -> float | None:
    if name not in data:
        return current
    value = data[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Problem(422, "invalid", f"{name!r} must be a number or null")
    return float(value)


async def update_spam(request: Request) -> Any:
    account = await _account(request)
    data = await read_json(request)
    unknown = set(data) - {"file_threshold", "reject_threshold"}
    if unknown:
        raise Problem(422, "invalid", f"unknown setting(s): {', '.join(sorted(unknown))}")
    own = await _store(request).spam.settings(account.id)
    await _store(request).spam.set_thresholds(
        account.id,
        _threshold(data, "file_threshold", own.file_threshold),
        _threshold(data, "reject_threshold", own.reject_threshold),
    )
    return await _spam_json(request, account)


async def put_spam_sender(request: Request) -> Any:
    account = await _account(request)
    kind = field(await read_json(request), "kind", str)
    if kind not in ("allow", "block"):
        raise Problem(422, "invalid", "'kind' must be allow or block")
    try:
        entry = sender_entry(request.path_params["entry"])
    except ValueError as exc:
        raise Problem(422, "invalid", str(exc)) from None
    await _store(request).spam.set_sender(account.id, entry, kind)
    return await _spam_json(request, account)


async def remove_spam_sender(request: Request) -> Any:
    account = await _account(request)
    await _store(request).spam.remove_sender(account.id, request.path_params["entry"])


# -- aliases ---------------------------------------------------------------------


async def list_aliases(request: Request) -> Any:
    aliases = await _store(request).accounts.list_aliases()
    return [{"address": a.address, "target": a.target} for a in aliases]


async def add_alias(request: Request) -> Any:
    data = await read_json(request)
    address = _address(field(data, "address", str), "address")
    target = _address(field(data, "target", str), "target")
    alias = await _store(request).accounts.add_alias(address, target)
    return {"address": alias.address, "target": alias.target}


async def remove_alias(request: Request) -> Any:
    await _store(request).accounts.remove_alias(request.path_params["address"])


# -- queue -----------------------------------------------------------------------


def _queue_admin(request: Request) -> Any:
    if not hasattr(_store(request).queue, "entries"):
        raise Problem(501, "no-queue", "this build has no outbound queue")
    from postfach.queue import admin

    return admin


async def list_queue(request: Request) -> Any:
    admin = _queue_admin(request)
    entries = await admin.list_entries(_store(request))
    return [
        {
            "id": e.id,
            "sender": e.sender,
            "size": e.size,
            "created": e.created,
            "recipients": [
                {
                    "address": r.address,
                    "status": r.status,
                    "attempts": r.attempts,
                    "next_attempt": r.next_attempt,
                    "last_error": r.last_error,
                }
                for r in e.recipients
            ],
        }
        for e in entries
    ]


async def retry_queue(request: Request) -> Any:
    admin = _queue_admin(request)
    raw_id = request.path_params.get("id")
    count = await admin.retry(_store(request), int(raw_id) if raw_id is not None else None)
    return {"recipients": count}


async def delete_queued(request: Request) -> Any:
    admin = _queue_admin(request)
    if not await admin.delete(_store(request), int(request.path_params["id"])):
        raise NotFound(f"no queued message {request.path_params['id']}")


async def openapi(_request: Request) -> Response:
    return JSONResponse(OPENAPI)


def routes() -> list[BaseRoute]:
    a = PREFIX + "/accounts/{address}"
    return [
        Route(PREFIX + "/openapi.json", openapi, methods=["GET"]),
        Route(PREFIX + "/domains", endpoint(list_domains), methods=["GET"]),
        Route(PREFIX + "/domains", endpoint(add_domain, 201), methods=["POST"]),
        Route(PREFIX + "/domains/{name}", endpoint(remove_domain), methods=["DELETE"]),
        Route(PREFIX + "/accounts", endpoint(list_accounts), methods=["GET"]),
        Route(PREFIX + "/accounts", endpoint(add_account, 201), methods=["POST"]),
        Route(a, endpoint(get_account), methods=["GET"]),
        Route(a, endpoint(update_account), methods=["PATCH"]),
        Route(a, endpoint(remove_account), methods=["DELETE"]),
        Route(a + "/password", endpoint(set_password), methods=["PUT"]),
        Route(a + "/logout", endpoint(logout_everywhere), methods=["POST"]),
        Route(a + "/app-passwords", endpoint(list_app_passwords), methods=["GET"]),
        Route(a + "/app-passwords", endpoint(add_app_password, 201), methods=["POST"]),
        Route(a + "/app-passwords/{name}", endpoint(revoke_app_password), methods=["DELETE"]),
        Route(a + "/spam", endpoint(get_spam), methods=["GET"]),
        Route(a + "/spam", endpoint(update_spam), methods=["PATCH"]),
        Route(a + "/spam/senders/{entry}", endpoint(put_spam_sender), methods=["PUT"]),
        Route(a + "/spam/senders/{entry}", endpoint(remove_spam_sender), methods=["DELETE"]),
        Route(PREFIX + "/aliases", endpoint(list_aliases), methods=["GET"]),
        Route(PREFIX + "/aliases", endpoint(add_alias, 201), methods=["POST"]),
        Route(PREFIX + "/aliases/{address}", endpoint(remove_alias), methods=["DELETE"]),
        Route(PREFIX + "/queue", endpoint(list_queue), methods=["GET"]),
        Route(PREFIX + "/queue/retry", endpoint(retry_queue), methods=["POST"]),
        Route(PREFIX + "/queue/{id:int}/retry", endpoint(retry_queue), methods=["POST"]),
        Route(PREFIX + "/queue/{id:int}", endpoint(delete_queued), methods=["DELETE"]),
        *mailing_api.routes(),
        *mailing_campaigns.routes(),
    ]
