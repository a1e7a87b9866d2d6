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
- The base (base.py): `meta` (schema version, UIDVALIDITY counter).

errors.py, records.py, queue_records.py, mailing_records.py and spam_records.py hold what the
roles raise and return; they import no role, so the roles and api.py never
import each other in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from postfach.store.accounts import AccountsStore
from postfach.store.api import (
    AlreadyExists,
    NotFound,
    OverQuota,
    StoreApi,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from postfach.store.base import StoreBase
from postfach.store.events import Hub
from postfach.store.greylist import GreylistStore
from postfach.store.imports import ImportsStore
from postfach.store.locks import Locks
from postfach.store.mail import MailStore, NewMessage
from postfach.store.mailboxes import MailboxStore
from postfach.store.mailing import MailingStore
from postfach.store.queue import QueueStore
from postfach.store.sieve import SieveStore
from postfach.store.signin import SigninStore
from postfach.store.spam import SpamStore
from postfach.store.tlsfiles import TlsFilesStore
from postfach.store.urlauth import UrlauthStore
from postfach.store.web import WebSessionStore

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


class Store(StoreBase):
    """SQLite or PostgreSQL behind the roles of `StoreApi`."""

    def __init__(self, url: str, writer: AsyncEngine, reader: AsyncEngine, dialect: str) -> None:
        super().__init__(url, writer, reader, dialect)
        self.accounts = AccountsStore(self)
        self.mail = MailStore(self)
        self.mailboxes = MailboxStore(self, self.mail)
        self.queue = QueueStore(self)
        self.web = WebSessionStore(self)
        self.mailing = MailingStore(self)
        self.locks = Locks(self)
        self.greylist = GreylistStore(self)
        self.tls_files = TlsFilesStore(self)
        self.spam = SpamStore(self)
        self.imports = ImportsStore(self)
        self.signin = SigninStore(self)
        self.urlauth = UrlauthStore(self)
        self.sieve = SieveStore(self)

    @classmethod
    async def connect(cls, url: str, *, migrate: bool = True) -> Store:
        store = await cls.open(url, migrate=migrate)
        assert isinstance(store, Store)
        return store


if TYPE_CHECKING:
    from postfach.store.api import RuntimeApi
    from postfach.store.runtime import RuntimeState

    # mypy fails here when a role drifts from its Protocol.
    def _store_keeps_its_contract(store: Store) -> StoreApi:
        return store

    def _runtime_keeps_its_contract(runtime: RuntimeState) -> RuntimeApi:
        return runtime
