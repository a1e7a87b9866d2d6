"""Sends queued messages to one destination over one connection (aiosmtplib).

STARTTLS is used whenever the server offers it, without certificate checks
(opportunistic TLS, RFC 3207 §4.1 and RFC 7435). Several messages go over the same
`Connection`, one after the other, each its own transaction (RSET between), so
the queue worker can record each outcome as soon as it is known. Every
recipient gets an `Outcome`: sent, failed (5xx) or deferred (4xx, or the
connection broke). DSN parameters travel on when the next hop offers DSN (RFC
3461 §5.2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiosmtplib

from postfach.message.xtext import xtext_encode
from postfach.queue.routes import Destination
from postfach.store.queue import QueueItem, QueueMessage

__all__ = ["Batch", "Connection", "Outcome"]

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "sent", "failed" or "deferred"
    reply: str  # the remote reply ("550 5.1.1 No such user") or our reason
    code: int = 0
    host: str = ""
    dsn_passed: bool = False  # the next hop took the DSN request over


@dataclass(frozen=True, slots=True)
class Batch:
    message: QueueMessage
    items: tuple[QueueItem, ...]


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


def _kind(code: int) -> str:
    return "failed" if code >= 500 else "deferred"


async def _connect(dest: Destination, local_hostname: str) -> tuple[aiosmtplib.SMTP, str]:
    last_error = "no hosts to try"
    for host, port in dest.hosts:
        client = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            local_hostname=local_hostname,
            timeout=SMTP_TIMEOUT,
            start_tls=None,  # STARTTLS when offered
            validate_certs=False,
        )
        try:
            await client.connect()
            await client.ehlo()
            return client, host
        except (aiosmtplib.SMTPException, OSError) as exc:
            last_error = f"connect to {host}:{port} failed: {exc}"
            client.close()
    raise ConnectionError(last_error)


class Connection:
    """One open SMTP connection to a destination, for message after message."""

    def __init__(self, client: aiosmtplib.SMTP, host: str) -> None:
        self._client = client
        self.host = host

    @classmethod
    async def open(cls, dest: Destination, local_hostname: str) -> Connection:
        """Connects to the first host of `dest` that answers; ConnectionError if none."""
        client, host = await _connect(dest, local_hostname)
        return cls(client, host)

    async def send(self, batch: Batch) -> dict[int, Outcome]:
        """One message to its recipients; ConnectionError when the connection broke
        (the batch's recipients then have no outcome: nobody knows what arrived)."""
        try:
            return await _send_one(self._client, self.host, batch)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self._client.close()
            raise ConnectionError(f"lost connection with {self.host}: {exc}") from exc

    async def close(self) -> None:
        try:
            await self._client.quit()
        except Exception:
            self._client.close()


async def _send_one(client: aiosmtplib.SMTP, host: str, batch: Batch) -> dict[int, Outcome]:
    message = batch.message
    dsn = client.supports_extension("dsn")
    utf8 = not (message.sender.isascii() and all(i.address.isascii() for i in batch.items))
    try:
        await client.mail(
            message.sender,
            options=_mail_options(client, batch, dsn, utf8),
            encoding="utf-8" if utf8 else "ascii",
        )
    except aiosmtplib.SMTPResponseException as exc:
        outcome = Outcome(_kind(exc.code), _reply(exc.code, exc.message), exc.code, host)
        await _reset(client)
        return {i.id: outcome for i in batch.items}
    outcomes: dict[int, Outcome] = {}
    accepted: list[QueueItem] = []
    for item in batch.items:
        try:
            await client.rcpt(
                item.address,
                options=_rcpt_options(item, dsn),
                encoding="utf-8" if utf8 else "ascii",
            )
            accepted.append(item)
        except aiosmtplib.SMTPResponseException as exc:
            outcomes[item.id] = Outcome(
                _kind(exc.code), _reply(exc.code, exc.message), exc.code, host
            )
    if not accepted:
        await _reset(client)
        return outcomes
    try:
        response = await client.data(message.raw)
        sent = Outcome("sent", _reply(response.code, response.message), response.code, host, dsn)
    except aiosmtplib.SMTPResponseException as exc:
        sent = Outcome(_kind(exc.code), _reply(exc.code, exc.message), exc.code, host)
    outcomes.update({i.id: sent for i in accepted})
    return outcomes


def _mail_options(client: aiosmtplib.SMTP, batch: Batch, dsn: bool, utf8: bool) -> list[str]:
    message = batch.message
    options: list[str] = []
    if client.supports_extension("size"):
        options.append(f"SIZE={message.size}")
    if client.supports_extension("8bitmime") and not message.raw.isascii():
        options.append("BODY=8BITMIME")
    if utf8 and client.supports_extension("smtputf8"):
        options.append("SMTPUTF8")
    if dsn and message.ret:
        options.append(f"RET={message.ret}")
    if dsn and message.envid:
        options.append(f"ENVID={xtext_encode(message.envid)}")
    return options


def _rcpt_options(item: QueueItem, dsn: bool) -> list[str]:
    if not dsn:
        return []
    options = []
    if item.notify:
        options.append("NOTIFY=" + ",".join(sorted(item.notify)))
    if item.orcpt:
        options.append(f"ORCPT={item.orcpt[0]};{xtext_encode(item.orcpt[1])}")
    return options


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except aiosmtplib.SMTPResponseException:
        log.debug("RSET refused")
