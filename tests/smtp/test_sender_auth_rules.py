"""The pure rules of sender authentication: DMARC records, organisational domains,
alignment, the policy decision, SPF's DNS limits, the forged-header filter."""

from __future__ import annotations

import pytest

from postfach.config import ConfigError, config_from_dict
from postfach.smtp import authres, policy, replies
from postfach.smtp.dmarc import (
    Action,
    DmarcOutcome,
    DmarcRecord,
    aligned,
    decide,
    evaluate,
    organizational_domain,
    parse_record,
)


def test_parse_record() -> None:
    assert parse_record("v=DMARC1; p=reject") == DmarcRecord("reject", "reject")
    record = parse_record("v=DMARC1;p=quarantine; sp=none; pct=20; adkim=s; aspf=r")
    assert record == DmarcRecord("quarantine", "none", 20, True, False)
    assert parse_record("v=spf1 -all") is None
    assert parse_record("v=DMARC1; p=bogus") is None
    # §6.6.3: a bad p= with a report address counts as p=none.
    assert parse_record("v=DMARC1; p=bogus; rua=mailto:r@x.net") == DmarcRecord("none", "none")
    assert parse_record("v=DMARC1; p=reject; pct=250") == DmarcRecord("reject", "reject", 100)


def test_organizational_domain_from_the_public_suffix_list() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("mail.Example.COM.") == "example.com"
    assert organizational_domain("example.com") == "example.com"
    assert organizational_domain("co.uk") == "co.uk"


def test_alignment() -> None:
    assert aligned("mail.example.com", "example.com", strict=False)
    assert not aligned("mail.example.com", "example.com", strict=True)
    assert aligned("Example.com", "example.com.", strict=True)
    assert not aligned("example.co.uk", "other.co.uk", strict=False)
    assert not aligned("", "example.com", strict=False)


def test_evaluate() -> None:
    reject = DmarcRecord("reject", "quarantine")
    spf_pass = ("pass", "bounce.example.com")
    assert evaluate(None, "example.com", False, spf_pass, [], 0).result == "none"
    assert evaluate(reject, "example.com", False, spf_pass, [], 0).result == "pass"
    strict_spf = DmarcRecord("reject", "reject", strict_spf=True)
    assert evaluate(strict_spf, "example.com", False, spf_pass, [], 0).policy == "reject"
    assert evaluate(reject, "example.com", False, ("fail", "x.net"), ["example.com"], 0).result == (
        "pass"
    )
    failed = evaluate(reject, "example.com", False, ("pass", "x.net"), ["x.net"], 0)
    assert failed == DmarcOutcome("fail", "example.com", "reject")
    # sp= applies to a subdomain whose record came from the organisational domain.
    sub = evaluate(reject, "news.example.com", True, ("none", ""), [], 0)
    assert sub.policy == "quarantine"
    # pct: a roll outside the sample gets the next weaker policy.
    sampled = DmarcRecord("reject", "reject", pct=30)
    assert evaluate(sampled, "example.com", False, ("none", ""), [], 29.9).policy == "reject"
    assert evaluate(sampled, "example.com", False, ("none", ""), [], 30).policy == "quarantine"


def test_decide() -> None:
    fail_reject = DmarcOutcome("fail", "example.com", "reject")
    fail_quarantine = DmarcOutcome("fail", "example.com", "quarantine")
    passed = DmarcOutcome("pass", "example.com", "reject")
    none = DmarcOutcome("none", "example.com")
    ok = ("pass", "example.com")
    rejected = decide([fail_reject], ok, False)
    assert rejected.action is Action.REJECT
    assert rejected.text == "Rejected by DMARC policy for example.com"
    assert decide([fail_quarantine], ok, False).action is Action.QUARANTINE
    assert decide([DmarcOutcome("fail", "x.net", "none")], ok, False).action is Action.ACCEPT
    assert decide([passed], ok, False).action is Action.ACCEPT
    assert decide([none], ok, False).action is Action.ACCEPT
    assert decide([], ok, False).action is Action.ACCEPT
    # DNS failures defer where they could change the outcome, and only there.
    assert decide([DmarcOutcome("temperror", "x.net")], ok, False).action is Action.DEFER
    assert decide([fail_reject], ok, True).action is Action.DEFER
    assert decide([fail_reject], ("temperror", "x.net"), False).action is Action.DEFER
    assert decide([none], ("temperror", "x.net"), False).action is Action.DEFER
    assert decide([passed], ("temperror", "x.net"), False).action is Action.ACCEPT
    assert decide([none], ok, True).action is Action.ACCEPT
    # SPF -all refuses unless DMARC passed (through an aligned DKIM signature).
    assert decide([none], ("fail", "x.net"), False).text == "SPF check failed for x.net"
    assert decide([passed], ("fail", "x.net"), False).action is Action.ACCEPT
    assert decide([none], ("softfail", "x.net"), False).action is Action.ACCEPT


async def test_spf_dns_limits() -> None:
    zone = {
        "ten.example.net": "v=spf1 " + " ".join(f"a:h{i}.example.net" for i in range(10)) + " -all",
        "eleven.example.net": "v=spf1 " + " ".join(f"a:h{i}.example.net" for i in range(11)),
        "voids.example.net": "v=spf1 a:v1.example.net a:v2.example.net a:v3.example.net -all",
        "two-voids.example.net": "v=spf1 a:v1.example.net a:v2.example.net -all",
    }
    answers = {f"h{i}.example.net": ["192.0.2.99"] for i in range(11)}

    async def query(name: str, rdtype: str) -> list[str]:
        if rdtype == "TXT":
            return [zone[name]] if name in zone else []
        return answers.get(name, [])

    async def spf(domain: str) -> str:
        return (await authres.check_spf("203.0.113.1", f"a@{domain}", "h", query))[0]

    assert await spf("ten.example.net") == "fail"
    assert await spf("eleven.example.net") == "permerror"  # RFC 7208 §4.6.4: 10 look-ups
    assert await spf("two-voids.example.net") == "fail"
    assert await spf("voids.example.net") == "permerror"  # more than 2 void look-ups


def test_results_summary_is_the_scan_facts_mapping() -> None:
    results = authres.AuthResults(
        "softfail",
        "a@x.net",
        (("fail", "x.net", "s1"), ("pass", "y.net", "s2")),
        (("fail", "z.net", "quarantine"),),
        "none",
    )
    assert results.summary() == {"spf": "softfail", "dkim": "pass", "dmarc": "fail", "arc": "none"}
    empty = authres.AuthResults("none", "a@x.net", (), (), "none")
    assert empty.summary() == {"spf": "none", "dkim": "none", "dmarc": "none", "arc": "none"}


def test_forged_results_are_removed() -> None:
    raw = (
        b"Authentication-Results: mail.example.org; dkim=pass; dmarc=pass\r\n"
        b"authentication-results : (x) Mail.Example.Org.;\r\n\tspf=pass\r\n"
        b"Authentication-Results: mail.example.org.evil.test; spf=pass\r\n"
        b"Subject: hi\r\n\r\nAuthentication-Results: mail.example.org; body stays\r\n"
    )
    assert authres.remove_own_results(raw, "mail.example.org") == (
        b"Authentication-Results: mail.example.org.evil.test; spf=pass\r\n"
        b"Subject: hi\r\n\r\nAuthentication-Results: mail.example.org; body stays\r\n"
    )
    clean = b"Subject: hi\r\n\r\nbody\r\n"
    assert authres.remove_own_results(clean, "mail.example.org") is clean


def test_own_domain_policy() -> None:
    local = frozenset({"example.org", "example.net"})
    refused = replies.NOT_AUTHENTICATED_FOR_DOMAIN
    assert policy.check_own_domain(["bob@Example.ORG"], local, frozenset()) == refused
    assert policy.check_own_domain(["bob@example.org"], local, frozenset({"example.org"})) is None
    assert policy.check_own_domain(["x@example.net"], local, frozenset({"example.org"})) == refused
    assert policy.check_own_domain(["x@elsewhere.test", ""], local, frozenset()) is None


def test_config_lists() -> None:
    config = config_from_dict(
        {
            "dns": {"nameservers": ["127.0.0.1:5353"]},
            "mx": {"allow_unauthenticated_own_domains": ["a.org"]},
        },
        "test",
    )
    assert config.dns.nameservers == ("127.0.0.1:5353",)
    assert config.mx.allow_unauthenticated_own_domains == ("a.org",)
    with pytest.raises(ConfigError, match="dns.nameservers"):
        config_from_dict({"dns": {"nameservers": "127.0.0.1"}}, "test")


async def test_names_dns_cannot_hold_have_no_records() -> None:
    # An address literal HELO with a null sender, a label over 63 octets: no
    # records, never a DNS failure (that would defer the mail for good).
    lookup = authres.DnsLookup(["127.0.0.1:9"], timeout=0.5)
    assert await lookup("[192.0.2.1]", "TXT") == []
    assert await lookup("x" * 64 + ".net", "TXT") == []
    assert await authres.check_spf("192.0.2.1", "", "[192.0.2.1]", lookup) == (
        "none",
        "postmaster@[192.0.2.1]",
    )
