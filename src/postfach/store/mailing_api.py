"""The contract of the bulk-mailing role (`store.mailing`, store/mailing.py), kept
beside store/api.py so that file stays one screenful per role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from postfach.store.mailing_records import (
    BounceBox,
    Campaign,
    Claimed,
    Contact,
    Outcome,
    Quota,
    RecipientRow,
    Relay,
    Settle,
)

__all__ = ["MailingApi"]


class MailingApi(Protocol):
    """Bulk mailing (R22–R26): relays and their limits, lists, contacts, campaigns."""

    async def add_relay(self, name: str, now: float, **values: Any) -> Relay: ...
    async def update_relay(self, name: str, **values: Any) -> bool: ...
    async def get_relay(self, name: str) -> Relay | None: ...
    async def list_relays(self) -> list[Relay]:
        """All relays in sending order."""
    async def remove_relay(self, name: str) -> bool: ...
    async def quota(self, relay: Relay, now: float) -> Quota: ...
    async def reserve(self, relay: Relay, recipient_ids: Sequence[int], now: float) -> int:
        """Counts `recipient_ids` (in order) against the relay; returns how many fit."""
    async def forget_sends(self, before: float) -> None: ...
    async def ensure_list(self, name: str, now: float) -> int: ...
    async def get_list(self, name: str) -> int | None: ...
    async def list_lists(self) -> list[tuple[str, int]]:
        """(name, number of contacts) of every list."""
    async def import_contacts(
        self, list_id: int, rows: Sequence[tuple[str, dict[str, str]]]
    ) -> tuple[int, int]:
        """Adds contacts, merging columns into existing ones; returns (added, merged)."""
    async def list_contacts(self, list_id: int) -> list[Contact]: ...
    async def create_campaign(
        self, name: str, list_id: int, now: float, **values: Any
    ) -> Campaign: ...
    async def get_campaign(self, name: str | int) -> Campaign | None: ...
    async def campaigns_in_state(self, state: str) -> list[Campaign]: ...
    async def set_campaign_state(self, campaign_id: int, state: str) -> None: ...
    async def add_attachment(
        self, campaign_id: int, filename: str, content_type: str, data: bytes
    ) -> None: ...
    async def attachments(self, campaign_id: int) -> list[tuple[str, str, bytes]]: ...
    async def queue_campaign(self, campaign: Campaign, now: float) -> int:
        """Queues every contact of the list that may get mail and is not queued yet."""
    async def claim(
        self,
        campaign_id: int,
        relay: Relay,
        owner: str,
        want: int,
        now: float,
        lease: float,
        settle: Settle | None = None,
    ) -> list[Claimed]:
        """Takes up to `want` due recipients and reserves the relay's room for them."""
    async def unclaim(self, recipient_ids: Sequence[int]) -> None: ...
    async def give_back(
        self, relay: Relay, unreserve: Sequence[int], unclaim: Sequence[int], since: float
    ) -> None:
        """Reservations (made at `since`) and claims of messages that never reached the relay."""
    async def record(
        self, relay: Relay, outcomes: Sequence[Outcome], now: float, since: float
    ) -> None:
        """Stores each recipient's outcome with the relay's own reply (R26)."""
    async def next_due(self, campaign_id: int, now: float) -> tuple[float | None, float | None]:
        """(when the earliest free queued recipient is due, when the earliest lease ends)."""
    async def counts(self, campaign_id: int) -> dict[str, int]: ...
    async def recipients(
        self, campaign_id: int, limit: int | None = None
    ) -> list[RecipientRow]: ...
    async def by_token(self, token: str) -> RecipientRow | None: ...
    async def latest_for_email(self, email: str) -> RecipientRow | None:
        """The most recent message sent to `email` (a bounce that names only the address)."""
    async def unsubscribe(self, token: str) -> bool:
        """Marks the contact behind `token` unsubscribed; False for an unknown token."""
    async def mark_bounce(
        self, recipient: RecipientRow | None, email: str, hard: bool, reply: str, now: float
    ) -> None:
        """A hard bounce marks the address bounced everywhere; a soft one is counted."""
    async def add_bounce_box(self, name: str, **values: Any) -> None: ...
    async def list_bounce_boxes(self) -> list[BounceBox]: ...
    async def remove_bounce_box(self, name: str) -> bool: ...
    async def bounce_box_checked(self, name: str, now: float, result: str) -> None: ...
