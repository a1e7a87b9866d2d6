"""The log lines of a message taken over SMTP, one per event, as Postfix logs them.

    accepted: id=7F3A9C21B0 from=<bob@example.org> size=1234 nrcpt=2 proto=ESMTPSA
              client=[192.0.2.7] user=<bob@example.org> message-id=<x@example.org>
    delivered: id=7F3A9C21B0 to=<alice@example.org> mailbox=INBOX
    queued: id=7F3A9C21B0 to=<carol@example.net> queue=17
    bounced: id=7F3A9C21B0 to=<dave@example.org> status=5.2.2 reason=mailbox-full
    refused: id=7F3A9C21B0 from=<...> ... message-id=<...> reply=552 5.2.2

(each on one line). `id` is made per message, so grep finds its lines; `queue`
is the outbound queue's number (`postfach queue list`); `user` is empty for
mail from other servers. Addresses and the Message-ID are the client's words,
escaped (auth/authlog.py), so they cannot forge a field or a line.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from postfach.auth.authlog import escape_for_log
from postfach.smtp.replies import Reply

__all__ = ["MessageFacts", "log_accepted", "log_refused", "new_id"]

log = logging.getLogger("postfach.smtp")

_ADDRESS_LIMIT = 320
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]{1,250}>)", re.IGNORECASE | re.MULTILINE)


def new_id() -> str:
    """Ten hex digits, like a Postfix queue id: unique enough to grep a day's log."""
    return secrets.token_hex(5).upper()


def message_id(raw: bytes) -> str:
    """The Message-ID header's value, looked for in the header section only."""
    end = raw.find(b"\r\n\r\n", 0, 65536)
    match = _MESSAGE_ID.search(raw, 0, end if end >= 0 else 65536)
    return match.group(1)[1:-1].decode("utf-8", "replace") if match else ""


def _addr(address: str) -> str:
    return f"<{escape_for_log(address, _ADDRESS_LIMIT)}>"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the lines say of one message, taken as it arrived."""

    id: str
    sender: str
    size: int
    nrcpt: int
    proto: str  # RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA
    client: str
    user: str
    message_id: str

    def line(self) -> str:
        return (
            f"id={self.id} from={_addr(self.sender)} size={self.size} nrcpt={self.nrcpt}"
            f" proto={self.proto} client=[{self.client}] user={_addr(self.user)}"
            f" message-id={_addr(self.message_id)}"
        )


def log_accepted(
    facts: MessageFacts,
    delivered: list[str],
    bounced: list[str],
    queued: list[str],
    queue_id: int | None,
    mailbox: str = "INBOX",
) -> None:
    """The message was taken (250): one line for it, one per recipient."""
    log.info("accepted: %s", facts.line())
    for address in delivered:
        log.info("delivered: id=%s to=%s mailbox=%s", facts.id, _addr(address), mailbox)
    for address in bounced:
        log.info("bounced: id=%s to=%s status=5.2.2 reason=mailbox-full", facts.id, _addr(address))
    for address in queued:
        log.info("queued: id=%s to=%s queue=%s", facts.id, _addr(address), queue_id)


def log_refused(facts: MessageFacts, reply: Reply) -> None:
    """The message came in full but was not taken."""
    log.info("refused: %s reply=%d %s", facts.line(), reply.code, reply.status)
