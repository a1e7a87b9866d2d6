"""What the sessions of one SMTP listener share (SmtpService): the listener's
rules and limits, read once, acceptance, and the caches of local domains,
recipients and EHLO replies.
"""

from __future__ import annotations

import asyncio
import time

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.recipients import RecipientCache
from postfach.smtp import policy, replies
from postfach.smtp.acceptance import Acceptance
from postfach.smtp.mxchecks import MxChecks
from postfach.store.records import Account

__all__ = ["SmtpService"]

_DOMAIN_CACHE_TTL = 5.0
_EHLO_CACHE_SIZE = 1000


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
        self.mx_checks = MxChecks(ctx.config.mx, ctx.store)  # DNSBL, greylisting
        self.greeting = replies.Reply(220, "", f"{self.hostname} ESMTP postfach")
        # Seconds the MX holds back its greeting's last line to catch early talkers.
        self.greet_pause = ctx.config.spam.greet_pause if self.rules.mx else 0.0
        self._domains: frozenset[str] = frozenset()
        self._domains_at = -_DOMAIN_CACHE_TTL
        self._domains_pending: asyncio.Future[frozenset[str]] | None = None
        # Accounts with a quota are looked up afresh: RCPT checks their usage.
        self._recipients = RecipientCache(
            ctx.store,
            keep=lambda accounts: not any(a.quota_bytes for a in accounts),
            postmaster=ctx.config.server.postmaster,
        )
        self._ehlo: dict[tuple[str, tuple[str, ...]], replies.Reply] = {}

    async def local_domains(self) -> frozenset[str]:
        if time.monotonic() - self._domains_at < _DOMAIN_CACHE_TTL:
            return self._domains
        if self._domains_pending is None:
            # One look-up however many sessions find the cache stale at once.
            self._domains_pending = asyncio.ensure_future(self._load_domains())
            self._domains_pending.add_done_callback(self._domains_loaded)
        return await asyncio.shield(self._domains_pending)

    async def _load_domains(self) -> frozenset[str]:
        domains = await self.ctx.store.accounts.list_domains()
        self._domains = frozenset(d.name.lower() for d in domains)
        self._domains_at = time.monotonic()
        return self._domains

    def _domains_loaded(self, future: asyncio.Future[frozenset[str]]) -> None:
        self._domains_pending = None
        if not future.cancelled():
            future.exception()  # retrieved here; each waiter gets it raised

    async def resolve(self, address: str) -> list[Account]:
        """The accounts behind a local address, cached briefly for the RCPT check."""
        return await self._recipients.resolve(address)

    def ehlo_reply(self, helo: str, keywords: tuple[str, ...]) -> replies.Reply:
        """The EHLO reply; the few distinct ones (clients re-use their names) are kept."""
        key = (helo, keywords)
        reply = self._ehlo.get(key)
        if reply is None:
            if len(self._ehlo) >= _EHLO_CACHE_SIZE:
                self._ehlo.clear()
            text = "\n".join([f"{self.hostname} Hello {helo}", *keywords])
            reply = self._ehlo[key] = replies.Reply(250, "", text)
        return reply

    async def is_local_domain(self, domain: str) -> bool:
        return domain.lower() in await self.local_domains()

    async def canonical_recipient(self, address: str) -> str:
        """RFC 5321 §4.5.1: a bare "postmaster" means the postmaster of the first domain."""
        if address != "postmaster":
            return address
        domains = sorted(await self.local_domains())
        return f"postmaster@{domains[0]}" if domains else f"postmaster@{self.hostname}"
