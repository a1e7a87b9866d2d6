"""Sender authentication at the MX: SPF, DKIM, ARC and DMARC run, the action decided.

`SenderChecks.check()` runs the checks of authres.py on a message that came
without AUTH, reads the From domains' DMARC records (RFC 7489 §6.6.3: the From
domain, then its organisational domain) and asks dmarc.py what to do. The
answer carries the Authentication-Results line, the one-word results the spam
scorer reads (`ScanFacts.auth_results`) and the action: accept, file into
Spam, refuse (550 5.7.1), or defer (451 4.4.3) when DNS failed where it decides.
ARC is verified and reported; no sealer is trusted to override DMARC yet, and
sealing waits for forwarding, which postfach does not do yet.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from postfach.message.address import header_from_addresses
from postfach.smtp import dmarc
from postfach.smtp.authres import (
    AuthResults,
    DnsError,
    Query,
    check_arc,
    check_dkim,
    check_spf,
    header_line,
)

__all__ = ["SenderChecks", "SenderVerdict"]


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    results: AuthResults
    decision: dmarc.Decision
    header: bytes  # the Authentication-Results line, CRLF-terminated

    @property
    def folder(self) -> str:
        """Where local delivery files it: the Spam folder for DMARC quarantine."""
        return "\\Junk" if self.decision.action is dmarc.Action.QUARANTINE else ""

    @property
    def auth_results(self) -> Mapping[str, str]:
        """{"spf": ..., "dkim": ..., "dmarc": ..., "arc": ...} for `ScanFacts`."""
        return self.results.summary()


class SenderChecks:
    def __init__(self, hostname: str, query: Query) -> None:
        self.hostname = hostname
        self.query = query

    async def check(self, ip: str, helo: str, sender: str, raw: bytes) -> SenderVerdict:
        spf, identity = await check_spf(ip, sender, helo, self.query)
        spf_domain = identity.rpartition("@")[2]
        signatures = await check_dkim(raw, self.query)
        arc = await check_arc(raw, self.query)
        passing = [d for result, d, _ in signatures if result == "pass"]
        outcomes = [
            await self._dmarc(domain, (spf, spf_domain), passing) for domain in _from_domains(raw)
        ]
        pending = any(result == "temperror" for result, _, _ in signatures)
        decision = dmarc.decide(outcomes, (spf, spf_domain), pending)
        results = AuthResults(
            spf,
            identity,
            tuple(signatures),
            tuple((o.result, o.domain, o.policy if o.result == "fail" else "") for o in outcomes),
            arc,
        )
        return SenderVerdict(results, decision, header_line(self.hostname, results))

    async def _dmarc(
        self, domain: str, spf: tuple[str, str], passing: list[str]
    ) -> dmarc.DmarcOutcome:
        try:
            record, at_org = await self._record(domain)
        except DnsError:
            return dmarc.DmarcOutcome("temperror", domain)
        return dmarc.evaluate(record, domain, at_org, spf, passing, random.uniform(0, 100))

    async def _record(self, domain: str) -> tuple[dmarc.DmarcRecord | None, bool]:
        """The policy record and whether it came from the organisational domain."""
        record = await self._read(domain)
        if record is not None:
            return record, False
        org = dmarc.organizational_domain(domain)
        if org != domain:
            return await self._read(org), True
        return None, False

    async def _read(self, domain: str) -> dmarc.DmarcRecord | None:
        records = [dmarc.parse_record(t) for t in await self.query(f"_dmarc.{domain}", "TXT")]
        usable = [r for r in records if r is not None]
        return usable[0] if len(usable) == 1 else None  # §6.6.3: several mean none


def _from_domains(raw: bytes) -> list[str]:
    """The distinct RFC5322.From domains, in order."""
    domains: list[str] = []
    for address in header_from_addresses(raw):
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain and domain not in domains:
            domains.append(domain)
    return domains
