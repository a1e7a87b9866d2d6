"""An SMTP relay on loopback for the mailing and web tests: a real aiosmtpd server.

A `Sink` records every accepted message (with the time of the tests' clock, when
given one) and every login (user, password); it can require AUTH (and refuse
every login), offer PIPELINING, answer chosen recipients with a given reply
(550, 451, ...) or drop the connection at a recipient the first time.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

if TYPE_CHECKING:
    from postfach.mailing.clock import ManualClock

__all__ = ["Received", "Sink"]


@dataclass
class Received:
    at: float  # the clock's time, 0.0 without a clock
    mail_from: str
    rcpt: str
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Sink:
    clock: ManualClock | None = None
    login: str = ""
    password: str = ""
    refuse_login: bool = False
    pipelining: bool = False  # offer RFC 2920 PIPELINING, as Postfix and most relays do
    replies: dict[str, str] = field(default_factory=dict)  # rcpt -> reply
    drop_once: set[str] = field(default_factory=set)  # rcpt: 421 and hang up, the first time
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)  # (user, password) tried
    server: asyncio.Server | None = None
    port: int = 0

    # aiosmtpd handler hooks
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.drop_once:
            self.drop_once.discard(address)
            server.transport.write(b"421 4.3.2 Shutting down\r\n")
            server.transport.close()
            return "421 4.3.2 Shutting down"
        reply = self.replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = self.clock.now() if self.clock is not None else 0.0
        for rcpt in envelope.rcpt_tos:
            self.received.append(Received(at, envelope.mail_from, rcpt, envelope.content))
        return f"250 2.0.0 Ok: queued as SINK{len(self.received)}"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        self.logins.append(given)
        ok = not self.refuse_login and given == (self.login, self.password)
        return AuthResult(success=ok, handled=False)

    def _factory(self) -> SMTP:
        self.connections += 1
        kwargs: dict[str, Any] = {"hostname": "sink.test", "decode_data": False}
        if self.login or self.refuse_login:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        return SMTP(self, **kwargs)

    async def start(self) -> Sink:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._factory, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def times(self) -> list[float]:
        return [r.at for r in self.received]

    def messages(self) -> dict[str, EmailMessage]:
        """rcpt -> the message it got."""
        return {r.rcpt: r.message for r in self.received}
