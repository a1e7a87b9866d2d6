"""SMTP listeners: `smtp` (MX, port 25), `submission` (587), `submissions` (465), `devices`.

`start_listener` is what `postfach.app.App` calls for each enabled SMTP
listener. The protocol engine is postfach's own (parser.py, session.py, wire.py)
on `postfach.net.serve_streams`, which brings implicit TLS for `submissions`, the
per-IP connection limit and a clean shutdown. aiosmtpd was the first choice; it
is not used because it cannot carry DSN parameters, BDAT, enhanced codes on every
reply and the per-message speed goal of issue 3 without rewriting its core.
"""

from __future__ import annotations

import asyncio
import time

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net import Listener, peer_ip, serve_streams
from postfach.smtp import policy, replies
from postfach.smtp.acceptance import Acceptance
from postfach.smtp.session import Session
from postfach.smtp.wire import Wire
from postfach.store.records import Account

__all__ = ["SMTP_LISTENERS", "SmtpService", "start_listener"]

SMTP_LISTENERS = frozenset({"smtp", "submission", "submissions", "devices"})
_DOMAIN_CACHE_TTL = 5.0
# RCPT checks reuse a lookup this long; delivery itself resolves again, exactly.
_RESOLVE_CACHE_TTL = 2.0
_RESOLVE_CACHE_SIZE = 10_000


class SmtpService:
    """What the sessions of one listener share: rules, limits and a local-domain cache."""

    def __init__(self, ctx: ServerContext, spec: ListenerSpec) -> None:
        self.ctx = ctx
        self.spec = spec
        self.rules = policy.rules_for(spec.name, ctx.config.auth.allow_plaintext)
        limits = ctx.config.limits
        self.hostname = ctx.hostname
        self.max_size = limits.max_message_size
        self.max_recipients = limits.max_recipients
        self.timeout = limits.smtp_timeout
        self.acceptance = Acceptance(ctx, self.rules)
        self._domains: frozenset[str] = frozenset()
        self._domains_at = -_DOMAIN_CACHE_TTL
        self._resolved: dict[str, tuple[float, list[Account]]] = {}

    async def local_domains(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._domains_at >= _DOMAIN_CACHE_TTL:
            domains = await self.ctx.store.list_domains()
            self._domains = frozenset(d.name.lower() for d in domains)
            self._domains_at = now
        return self._domains

    async def resolve(self, address: str) -> list[Account]:
        """The accounts behind a local address, cached briefly for the RCPT check."""
        now = time.monotonic()
        hit = self._resolved.get(address)
        if hit is not None and hit[0] > now:
            return hit[1]
        accounts = await self.ctx.store.resolve(address)
        if any(a.quota_bytes for a in accounts):
            return accounts  # quota checks want the current usage
        if len(self._resolved) >= _RESOLVE_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[address] = (now + _RESOLVE_CACHE_TTL, accounts)
        return accounts

    async def is_local_domain(self, domain: str) -> bool:
        return domain.lower() in await self.local_domains()

    async def canonical_recipient(self, address: str) -> str:
        """RFC 5321 §4.5.1: a bare "postmaster" means the postmaster of the first domain."""
        if address != "postmaster":
            return address
        domains = sorted(await self.local_domains())
        return f"postmaster@{domains[0]}" if domains else f"postmaster@{self.hostname}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire = Wire(reader, writer, self.timeout)
        await Session(self, wire, peer_ip(writer)).run()


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts one SMTP listener; `stop()` on the result closes it and its sessions."""
    if spec.name not in SMTP_LISTENERS:
        raise ValueError(f"not an SMTP listener: {spec.name}")
    service = SmtpService(ctx, spec)
    return await serve_streams(
        ctx, spec, service.handle, too_many=replies.TOO_MANY_CONNECTIONS.to_bytes()
    )
