"""Talking to a relay: one connection, a login, several messages (R22, R26).

`open_connection()` gives a `RelayConnection` for an external relay (aiosmtplib:
plain, implicit TLS or STARTTLS, then AUTH) or for the internal one (this
postfach: local recipients are delivered, remote ones go to the outbound queue
and leave through it with DKIM). Failures before any message are
`RelayUnavailable` (no connection, TLS) or `LoginRefused`; each message then
gets a `SendResult` carrying the relay's own reply, which the recipient keeps.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from postfach.store.mailing import Relay

if TYPE_CHECKING:
    from postfach.context import ServerContext

__all__ = [
    "LoginRefused",
    "RelayConnection",
    "RelayUnavailable",
    "SendResult",
    "connect_external",
    "reply_text",
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
    async def send(self, envelope_from: str, recipient: str, data: bytes) -> SendResult: ...
    async def close(self) -> None: ...


def reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


def _kind(code: int) -> str:
    return "failed" if 500 <= code < 600 else "deferred"


def _tls_context(relay: Relay) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not relay.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ExternalConnection:
    def __init__(self, client: aiosmtplib.SMTP, relay: Relay) -> None:
        self.client = client
        self.relay = relay

    async def send(self, envelope_from: str, recipient: str, data: bytes) -> SendResult:
        client = self.client
        utf8 = not (envelope_from.isascii() and recipient.isascii())
        options = ["SMTPUTF8"] if utf8 and client.supports_extension("smtputf8") else []
        if client.supports_extension("8bitmime") and not data.isascii():
            options.append("BODY=8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"
        try:
            await client.mail(envelope_from, options=options, encoding=encoding)
            await client.rcpt(recipient, encoding=encoding)
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return SendResult(_kind(exc.code), reply_text(exc.code, exc.message), exc.code)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            raise ConnectionLost(f"lost the connection to {self.relay.host}: {exc}") from None
        return SendResult("sent", reply_text(response.code, response.message), response.code)

    async def _reset(self) -> None:
        try:
            await self.client.rset()
        except aiosmtplib.SMTPResponseException:
            pass
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            raise ConnectionLost(f"lost the connection to {self.relay.host}: {exc}") from None

    async def close(self) -> None:
        try:
            await self.client.quit()
        except Exception:
            self.client.close()


class ConnectionLost(Exception):
    """The connection broke in the middle: the message was not sent; retry it."""


async def connect_external(relay: Relay, password: str, local_hostname: str) -> ExternalConnection:
    """Connects, secures and logs in; raises RelayUnavailable or LoginRefused."""
    where = f"{relay.host}:{relay.port}"
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        local_hostname=local_hostname,
        timeout=TIMEOUT,
        use_tls=relay.security == "tls",
        start_tls=relay.security == "starttls",
        tls_context=_tls_context(relay) if relay.security != "none" else None,
    )
    try:
        await client.connect()
    except aiosmtplib.SMTPConnectError as exc:
        raise RelayUnavailable(f"could not connect to {where}: {_why(exc)}") from None
    except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise RelayUnavailable(f"could not connect to {where} securely: {_why(exc)}") from None
    try:
        if not client.esmtp_extensions:
            await client.ehlo()
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise RelayUnavailable(f"{where} did not answer EHLO: {_why(exc)}") from None
    if relay.login:
        await _login(client, relay, password, where)
    return ExternalConnection(client, relay)


async def _login(client: aiosmtplib.SMTP, relay: Relay, password: str, where: str) -> None:
    if not client.supports_extension("auth"):
        client.close()
        raise LoginRefused(f"{where} offers no login (no AUTH after EHLO)")
    # One attempt with one mechanism: providers lock accounts after repeated failures.
    methods = client.server_auth_methods
    try:
        if "plain" in methods:
            await client.auth_plain(relay.login, password)
        elif "login" in methods:
            await client.auth_login(relay.login, password)
        else:
            await client.login(relay.login, password)
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        raise LoginRefused(
            f"{where} refused the login for {relay.login}: {reply_text(exc.code, exc.message)}"
        ) from None
    except aiosmtplib.SMTPException as exc:
        client.close()
        raise LoginRefused(f"{where} refused the login for {relay.login}: {_why(exc)}") from None
    except OSError as exc:
        client.close()
        raise RelayUnavailable(f"lost the connection to {where} during login: {exc}") from None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return "connection refused (nothing listens there, or a firewall)"
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in text:
        return f"the certificate was not accepted ({text})"
    return " ".join(text.split())


class InternalConnection:
    """The relay that is this postfach: local delivery or the outbound queue."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def send(self, envelope_from: str, recipient: str, data: bytes) -> SendResult:
        from postfach.queue.outbound import enqueue
        from postfach.store.queue import NewQueueRecipient
        from postfach.store.records import DeliveryStatus

        domain = recipient.rpartition("@")[2].lower()
        if await self.ctx.store.get_domain(domain) is not None:
            status = (await self.ctx.delivery.deliver(data, envelope_from, [recipient]))[recipient]
            if status is DeliveryStatus.DELIVERED:
                return SendResult("sent", "250 2.0.0 delivered to the mailbox", 250)
            code = 550 if status is DeliveryStatus.UNKNOWN_USER else 452
            return SendResult(_kind(code), f"{code} {status.value}", code)
        queue_id = await enqueue(self.ctx, envelope_from, [NewQueueRecipient(recipient)], data)
        return SendResult("sent", f"250 2.0.0 queued as {queue_id}", 250)

    async def close(self) -> None:
        return None
