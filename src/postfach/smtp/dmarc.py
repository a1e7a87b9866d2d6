"""DMARC (RFC 7489) as pure decisions: records, organisational domains, alignment, policy.

Nothing here does I/O; senderauth.py fetches the records and the SPF/DKIM
results and asks. The organisational domain comes from the public suffix list
the `publicsuffixlist` package ships (RFC 7489 §3.2), loaded once.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

__all__ = [
    "Action",
    "Decision",
    "DmarcOutcome",
    "DmarcRecord",
    "aligned",
    "decide",
    "evaluate",
    "organizational_domain",
    "parse_record",
]

_POLICIES = ("none", "quarantine", "reject")
# What pct lets through instead when a message falls outside the sample (§6.6.4).
_WEAKER = {"reject": "quarantine", "quarantine": "none", "none": "none"}


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    policy: str  # p=
    subdomain_policy: str  # sp=, p= when absent
    pct: int = 100
    strict_dkim: bool = False  # adkim=s
    strict_spf: bool = False  # aspf=s


@dataclass(frozen=True, slots=True)
class DmarcOutcome:
    result: str  # pass, fail, none, temperror
    domain: str  # the RFC5322.From domain
    policy: str = "none"  # what the domain asks for failing mail, after pct


class Action(enum.Enum):
    ACCEPT = "accept"
    QUARANTINE = "quarantine"  # deliver into the recipient's Spam folder
    REJECT = "reject"  # 550 5.7.1 at the end of DATA
    DEFER = "defer"  # 451 4.4.3: a check that decides could not be made


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    text: str  # the reply text (REJECT, DEFER) or the log reason (QUARANTINE)


def parse_record(text: str) -> DmarcRecord | None:
    """The policy of one TXT record; None when it is not a usable DMARC record."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1" or not text.lstrip().startswith("v"):
        return None
    policy = tags.get("p", "").lower()
    if policy not in _POLICIES:
        # §6.6.3: without a valid p=, a record with rua= counts as p=none.
        if "rua" not in tags:
            return None
        policy = "none"
    sub = tags.get("sp", policy).lower()
    pct_text = tags.get("pct", "100")
    pct = min(int(pct_text), 100) if pct_text.isdigit() else 100
    return DmarcRecord(
        policy,
        sub if sub in _POLICIES else policy,
        pct,
        tags.get("adkim", "r").lower() == "s",
        tags.get("aspf", "r").lower() == "s",
    )


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label (the domain itself if none)."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, strict: bool) -> bool:
    """§3.1: strict wants the same name, relaxed the same organisational domain."""
    a, b = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    if strict:
        return a == b
    return a == b or organizational_domain(a) == organizational_domain(b)


def evaluate(
    record: DmarcRecord | None,
    from_domain: str,
    found_at_org: bool,
    spf: tuple[str, str],
    dkim_passes: Iterable[str],
    roll: float,
) -> DmarcOutcome:
    """The DMARC result for one From domain.

    `spf` is (result, domain of the checked identity); `dkim_passes` the d= of every
    signature that verified; `found_at_org` says the record came from the
    organisational domain (so sp= applies, §6.6.3); `roll` in [0, 100) samples pct.
    """
    if record is None:
        return DmarcOutcome("none", from_domain)
    spf_result, spf_domain = spf
    if spf_result == "pass" and aligned(spf_domain, from_domain, record.strict_spf):
        return DmarcOutcome("pass", from_domain, record.policy)
    if any(aligned(d, from_domain, record.strict_dkim) for d in dkim_passes):
        return DmarcOutcome("pass", from_domain, record.policy)
    subdomain = found_at_org and organizational_domain(from_domain) != from_domain.lower()
    policy = record.subdomain_policy if subdomain else record.policy
    if roll >= record.pct:
        policy = _WEAKER[policy]
    return DmarcOutcome("fail", from_domain, policy)


def decide(outcomes: Iterable[DmarcOutcome], spf: tuple[str, str], dkim_pending: bool) -> Decision:
    """What happens to the message, from every From domain's DMARC outcome.

    `spf` is (result, domain) and `dkim_pending` says a DKIM check met a DNS
    failure. A DNS failure defers wherever the answer could change the action:
    a DMARC record that could not be read, a failing DMARC policy that a
    pending check might still have passed, an SPF result that could be "fail".
    SPF "fail" (-all) refuses unless DMARC passed (RFC 7208 §8.4).
    """
    results = list(outcomes)
    spf_result, spf_domain = spf
    if any(o.result == "temperror" for o in results):
        return Decision(Action.DEFER, "DMARC policy lookup failed, try again later")
    failing = [o for o in results if o.result == "fail" and o.policy != "none"]
    passed = bool(results) and all(o.result == "pass" for o in results)
    if failing and (spf_result == "temperror" or dkim_pending):
        return Decision(Action.DEFER, "Sender authentication lookup failed, try again later")
    rejecting = [o.domain for o in failing if o.policy == "reject"]
    if rejecting:
        return Decision(Action.REJECT, f"Rejected by DMARC policy for {rejecting[0]}")
    if not passed and spf_result == "temperror":
        return Decision(Action.DEFER, "SPF lookup failed, try again later")
    if not passed and spf_result == "fail":
        return Decision(Action.REJECT, f"SPF check failed for {spf_domain}")
    if failing:
        return Decision(Action.QUARANTINE, f"Quarantined by DMARC policy for {failing[0].domain}")
    return Decision(Action.ACCEPT, "")
