"""A real SMTP relay on loopback for the mailing API tests: aiosmtpd, with an
optional login and chosen refusals, recording what it accepts."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Sink:
    login: str = ""
    password: str = ""
    refuse: dict[str, str] = field(default_factory=dict)  # rcpt -> reply
    received: list[tuple[str, str, bytes]] = field(default_factory=list)  # from, rcpt, data
    logins: list[tuple[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            self.received.append((envelope.mail_from, rcpt, envelope.content))
        return f"250 2.0.0 Ok: queued as SINK{len(self.received)}"

    def _auth(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        self.logins.append(given)
        return AuthResult(success=given == (self.login, self.password), handled=False)

    def _factory(self) -> SMTP:
        kwargs: dict[str, Any] = {"hostname": "sink.test", "decode_data": False}
        if self.login:
            kwargs.update(authenticator=self._auth, auth_required=True, auth_require_tls=False)
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

    def messages(self) -> dict[str, EmailMessage]:
        """rcpt -> the message it got."""
        return {
            rcpt: email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[misc]
            for _sender, rcpt, data in self.received
        }
