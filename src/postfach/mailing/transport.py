"""Talking to a relay: one connection, a login, many messages (R22, R26).

`connect_external()` gives a `RelayConnection` for an external relay (the
pipelining client of `smtpclient`: plain, implicit TLS or STARTTLS, then AUTH);
`InternalConnection` is the internal one (this postfach: local recipients are
delivered, remote ones go to the outbound queue and leave through it with
DKIM). Failures before
any message are `RelayUnavailable` (no connection, TLS) or `LoginRefused`;
`send_many()` then gives each message a `SendResult` carrying the relay's own
reply, which the recipient keeps: 2xx sent, 5xx failed for good, 4xx (or a
connection lost under way) deferred.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from postfach.mailing.smtpclient import (
    Delivery,
    Envelope,
    SmtpClient,
    SmtpError,
    SmtpLost,
    SmtpRefused,
)
from postfach.store.mailing import Relay

if TYPE_CHECKING:
    from postfach.context import ServerContext

__all__ = [
    "Envelope",
    "LoginRefused",
    "RelayConnection",
    "RelayUnavailable",
    "SendResult",
    "connect_external",
]

TIMEOUT = 60.0


class RelayUnavailable(Exception):
    """No usable connection: the text says why, in plain words."""


class LoginRefused(RelayUnavailable):
    """The relay would not take the login (R22: the next relay takes over)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    kind: str  # "sent", "failed" (5xx), "deferred" (4xx or connection lost)
    reply: str
    code: int = 0


class RelayConnection(Protocol):
    async def send_many(self, envelopes: Sequence[Envelope]) -> tuple[list[SendResult], bool]:
        """A result for each message tried, in order; True when the connection broke.

        After a break the results stop early: the rest were not tried.
        """
        ...

    async def close(self) -> None: ...


def _kind(code: int) -> str:
    return "failed" if 500 <= code < 600 else "deferred"


def _result(delivery: Delivery) -> SendResult:
    reply = delivery.reply
    if reply is None:
        return SendResult("failed" if delivery.permanent else "deferred", delivery.note)
    kind = "sent" if delivery.accepted else _kind(reply.code)
    return SendResult(kind, reply.words(), reply.code)


def _tls_context(relay: Relay) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not relay.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ExternalConnection:
    def __init__(self, client: SmtpClient) -> None:
        self.client = client

    async def send_many(self, envelopes: Sequence[Envelope]) -> tuple[list[SendResult], bool]:
        deliveries, lost = await self.client.send_many(envelopes)
        return [_result(d) for d in deliveries], bool(lost)

    async def close(self) -> None:
        await self.client.quit()


async def connect_external(relay: Relay, password: str, local_hostname: str) -> ExternalConnection:
    """Connects, secures and logs in; raises RelayUnavailable or LoginRefused."""
    where = f"{relay.host}:{relay.port}"
    try:
        client = await SmtpClient.connect(
            relay.host,
            relay.port,
            local_hostname=local_hostname,
            security=relay.security,
            tls_context=_tls_context(relay) if relay.security != "none" else None,
            timeout=TIMEOUT,
        )
    except SmtpRefused as exc:
        raise RelayUnavailable(_refusal(where, exc)) from None
    except SmtpError as exc:
        raise RelayUnavailable(str(exc)) from None
    except ssl.SSLError as exc:
        raise RelayUnavailable(f"could not connect to {where} securely: {_why(exc)}") from None
    except (OSError, TimeoutError) as exc:
        raise RelayUnavailable(f"could not connect to {where}: {_why(exc)}") from None
    if relay.login:
        try:
            await _login(client, relay, password, where)
        except BaseException:
            client.abort()
            raise
    return ExternalConnection(client)


def _refusal(where: str, exc: SmtpRefused) -> str:
    words = exc.reply.words()
    if exc.step == "greeting":
        return f"{where} refused the connection: {words}"
    if exc.step == "STARTTLS":
        return f"{where} refused STARTTLS: {words}"
    return f"{where} did not answer {exc.step}: {words}"


async def _login(client: SmtpClient, relay: Relay, password: str, where: str) -> None:
    if "AUTH" not in client.extensions:
        raise LoginRefused(f"{where} offers no login (no AUTH after EHLO)")
    try:
        await client.login(relay.login, password)
    except SmtpRefused as exc:
        raise LoginRefused(
            f"{where} refused the login for {relay.login}: {exc.reply.words()}"
        ) from None
    except SmtpLost as exc:
        raise RelayUnavailable(f"lost the connection to {where} during login: {exc}") from None
    except SmtpError as exc:
        raise LoginRefused(f"{where} {exc}") from None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return "connection refused (nothing listens there, or a firewall)"
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in text:
        return f"the certificate was not accepted ({text})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return " ".join(text.split())


class InternalConnection:
    """The relay that is this postfach: local delivery or the outbound queue."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def send_many(self, envelopes: Sequence[Envelope]) -> tuple[list[SendResult], bool]:
        return [await self.send(e.sender, e.recipient, e.data) for e in envelopes], False

    async def send(self, envelope_from: str, recipient: str, data: bytes) -> SendResult:
        from postfach.queue.outbound import enqueue
        from postfach.store.queue import NewQueueRecipient
        from postfach.store.records import DeliveryStatus

        domain = recipient.rpartition("@")[2].lower()
        if await self.ctx.store.accounts.get_domain(domain) is not None:
            status = (await self.ctx.delivery.deliver(data, envelope_from, [recipient]))[recipient]
            if status is DeliveryStatus.DELIVERED:
                return SendResult("sent", "250 2.0.0 delivered to the mailbox", 250)
            code = 550 if status is DeliveryStatus.UNKNOWN_USER else 452
            return SendResult(_kind(code), f"{code} {status.value}", code)
        queue_id = await enqueue(self.ctx, envelope_from, [NewQueueRecipient(recipient)], data)
        return SendResult("sent", f"250 2.0.0 queued as {queue_id}", 250)

    async def close(self) -> None:
        return None
