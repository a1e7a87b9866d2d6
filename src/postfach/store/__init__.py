"""The store: the only package that speaks SQL. store/api.py is its contract.

`Store` is one object holding the engines (store/base.py) and one role per part
of the data, each a class of its own module with its Protocol in store/api.py.
Every table is declared in store/schema.py and made by `migrate`. Who owns what:

- `store.accounts` (accounts.py): `domains`, `accounts`, `aliases`, `app_passwords`.
- `store.mailboxes` (mailboxes.py): `mailboxes`, `subscriptions`.
- `store.mail` (mail.py, with mail_sql.py and sqlite_fastpath.py deciding by
  rules.py): `messages`, `blobs`, `expunged`.
- `store.queue` (queue.py): `queue_messages`, `queue_recipients`, `queue_delay_notices`.
- `store.web` (web.py): `web_sessions`, `admin_tokens`.
- `store.signin` (signin.py): `second_factors`, `recovery_codes`, `pending_logins`,
  `seen_logins` (two-factor sign-in, the mail programs seen lately).
- `store.mailing` (mailing.py, with mailing_sql.py): the `mailing_*` tables.
- `store.greylist` (greylist.py): `greylist`.
- `store.tls_files` (tlsfiles.py): `tls_files`.
- `store.spam` (spam.py): `spam_accounts`, `spam_tokens`, `spam_learnt`, `spam_senders`.
- `store.imports` (imports.py): `import_seen` (what imports already copied),
  `import_jobs` (imports the web started).
- `store.urlauth` (urlauth.py): `urlauth_keys` (RFC 4467 URLAUTH secrets).
- `store.sieve` (sieve.py, tables in schema_sieve.py): `sieve_scripts`,
  `sieve_replies` (whom vacation answered), `sieve_redirects` (redirect counts).
- `store.locks` (locks.py): `locks` (PostgreSQL; SQLite keeps leases on the machine).
- `store.runtime` (runtime.py): no table of the mail database; a file the
  workers of `serve --workers N` share.
- `store.hub` (events.py, notify.py): no table; changes travel by NOTIFY or the
  supervisor's relay.
- The base (base.py): `meta` (schema version, UIDVALIDITY counter, the settings
  generation of settings_cache.py).

errors.py, records.py, queue_records.py, mailing_records.py and spam_records.py hold what the
roles raise and return; they import no role, so the roles and api.py never
import each other in a circle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from postfach.store.errors import (
    AlreadyExists,
    NotFound,
    OverQuota,
    StoreError,
    StoreFull,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from postfach.store.api import StoreApi
    from postfach.store.events import Hub
    from postfach.store.mail import NewMessage
    from postfach.store.store import Store

__all__ = [
    "AlreadyExists",
    "Hub",
    "NewMessage",
    "NotFound",
    "OverQuota",
    "Store",
    "StoreApi",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
]

# Loaded on first use (PEP 562): these bring SQLAlchemy and every role with them,
# and a process that needs only the errors or the runtime file (the supervisor)
# should not pay for them.
_LAZY = {
    "Hub": "postfach.store.events",
    "NewMessage": "postfach.store.mail",
    "Store": "postfach.store.store",
    "StoreApi": "postfach.store.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
