"""The sender rules of R23, exactly.

1. The campaign has no fixed sender address: From is the relay's sender (name
   and address), whatever the relay allows.
2. The relay allows sender substitution: From is the campaign's fixed sender.
3. It does not: From's address becomes the relay's sender address; the
   campaign's name stays, and its address goes to Reply-To so replies still
   reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.store.mailing import Campaign, Relay

__all__ = ["Sender", "choose_sender"]


@dataclass(frozen=True, slots=True)
class Sender:
    name: str
    address: str
    reply_to: str = ""


def choose_sender(campaign: Campaign, relay: Relay) -> Sender:
    if not campaign.from_address:
        return Sender(campaign.from_name or relay.sender_name, relay.sender_address)
    if relay.allow_substitution:
        return Sender(campaign.from_name, campaign.from_address)
    reply_to = (
        ""
        if campaign.from_address.lower() == relay.sender_address.lower()
        else (campaign.from_address)
    )
    return Sender(campaign.from_name or relay.sender_name, relay.sender_address, reply_to)
