"""The store as the processes' services see it: `StoreApi` (api.py) and the
queue and web roles it does not name yet, as Protocols.

`ServerContext.store` is typed by `ServerStore`, so listeners and services
depend on these contracts, not on the `Store` class that implements them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from postfach.store.api import StoreApi
from postfach.store.queue import (
    NewQueueRecipient,
    QueueAttempt,
    QueueEntry,
    QueueItem,
    QueueMessage,
)
from postfach.store.records import AccountId, MailboxId, StoredMessage
from postfach.store.web import AdminToken, WebSession

__all__ = ["QueueApi", "ServerStore", "WebApi"]


class QueueApi(Protocol):
    """The outbound queue (store/queue.py): recipients leased, sent, retried."""

    async def queue_insert(
        self,
        sender: str,
        recipients: Sequence[NewQueueRecipient],
        raw: bytes,
        *,
        envid: str | None = None,
        ret: str | None = None,
    ) -> int: ...
    async def queue_due_domains(self, limit: int = 100) -> list[str]: ...
    async def queue_claim(
        self, owner: str, lease: float, limit: int = 100, domain: str | None = None
    ) -> list[QueueItem]: ...
    async def queue_renew(self, owner: str, recipient_ids: Sequence[int], lease: float) -> int: ...
    async def queue_message(self, message_id: int) -> QueueMessage | None: ...
    async def queue_finish(self, attempts: Sequence[QueueAttempt]) -> None: ...
    async def queue_recipients_of(self, message_id: int) -> list[QueueItem]: ...
    async def queue_claim_delay_notice(self, message_id: int) -> bool: ...
    async def queue_list(self) -> list[QueueEntry]: ...
    async def queue_retry(self, message_id: int | None = None) -> int: ...
    async def queue_delete(self, message_id: int) -> bool: ...
    async def queue_size(self) -> int: ...


class WebApi(Protocol):
    """What the web listener keeps (store/web.py): sessions, admin tokens, pages."""

    async def create_web_session(
        self,
        session_id: str,
        account_id: AccountId,
        generation: int,
        csrf: str,
        lifetime: float,
        ip: str = "",
    ) -> None: ...
    async def get_web_session(self, session_id: str) -> WebSession | None: ...
    async def delete_web_session(self, session_id: str) -> None: ...
    async def count_web_sessions(self, account_id: AccountId) -> int: ...
    async def add_admin_token(self, name: str, token: str) -> AdminToken: ...
    async def list_admin_tokens(self) -> list[AdminToken]: ...
    async def revoke_admin_token(self, name: str) -> None: ...
    async def check_admin_token(self, token: str) -> AdminToken | None: ...
    async def message_page(
        self, mailbox_id: MailboxId, offset: int, limit: int
    ) -> list[StoredMessage]: ...


class ServerStore(StoreApi, QueueApi, WebApi, Protocol):
    """Everything a process's listeners and services use of the store."""
