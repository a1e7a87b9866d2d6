"""One mail transaction as the session builds it and acceptance takes it.

`Peer` is what acceptance (acceptance.py) reads of the session that sent the
message; the session satisfies it, so acceptance needs no import of session.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from postfach.smtp.commands import MailParams, RcptParams
from postfach.store.records import Account

__all__ = ["Peer", "Recipient", "Transaction"]


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    params: RcptParams
    local: bool


@dataclass(slots=True)
class Transaction:
    sender: str
    params: MailParams
    recipients: list[Recipient] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)  # BDAT content so far
    chunk_size: int = 0


class Peer(Protocol):
    """The sending side of a session: trace line, Authentication-Results, log."""

    @property
    def ip(self) -> str: ...
    @property
    def helo(self) -> str: ...
    @property
    def extended(self) -> bool: ...  # EHLO, not HELO
    @property
    def tls(self) -> bool: ...
    @property
    def account(self) -> Account | None: ...  # after AUTH
    @property
    def early_talker(self) -> bool: ...  # spoke before the greeting
