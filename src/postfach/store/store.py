"""`Store`: the engines (store/base.py) and one role per part of the data.

Its own module so that `import postfach.store` stays light (the package's
__init__ loads this on first use of `Store`): the supervisor of `serve
--workers N` reads the runtime file and the relay's lines from store/ and
must not load SQLAlchemy for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from postfach.store.accounts import AccountsStore
from postfach.store.api import StoreApi
from postfach.store.base import StoreBase
from postfach.store.greylist import GreylistStore
from postfach.store.imports import ImportsStore
from postfach.store.locks import Locks
from postfach.store.mail import MailStore
from postfach.store.mailboxes import MailboxStore
from postfach.store.mailing import MailingStore
from postfach.store.queue import QueueStore
from postfach.store.sieve import SieveStore
from postfach.store.signin import SigninStore
from postfach.store.spam import SpamStore
from postfach.store.tlsfiles import TlsFilesStore
from postfach.store.urlauth import UrlauthStore
from postfach.store.web import WebSessionStore

__all__ = ["Store"]


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
