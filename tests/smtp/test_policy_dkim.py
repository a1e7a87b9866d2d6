"""Pure pieces: policy decisions, DKIM keys and DNS records, DSN reports, SPF evaluation."""

from __future__ import annotations

import email

import pytest

from postfach import dkim
from postfach.queue.dsn import ReportRecipient, build_report, reply_status
from postfach.smtp import authres, policy, replies
from postfach.store.records import Account, AccountId, Pop3Delete


def account(quota: int, used: int) -> Account:
    return Account(
        AccountId(1),
        "a@example.org",
        "",
        quota,
        used,
        True,
        True,
        ("INBOX",),
        False,
        Pop3Delete.KEEP,
        False,
        1,
    )


def test_route_policy() -> None:
    mx = policy.rules_for("smtp", False)
    devices = policy.rules_for("devices", False)
    assert policy.check_route(mx, False, True) is None
    assert policy.check_route(mx, False, False) == replies.RELAY_DENIED
    assert policy.check_route(mx, True, False) is None
    assert policy.check_route(devices, True, False) == replies.LOCAL_ONLY
    assert (
        policy.mail_refusal(policy.rules_for("submission", False), False) == replies.AUTH_REQUIRED
    )
    assert policy.auth_refusal(policy.rules_for("submission", False), False) is not None
    assert policy.auth_refusal(devices, False) is None
    with pytest.raises(ValueError):
        policy.rules_for("imap", False)


def test_sender_policy() -> None:
    owned = frozenset({"a@example.org", "alias@example.org"})
    assert policy.check_sender("A@example.org", owned) is None
    assert policy.check_sender("b@example.org", owned) == replies.SENDER_NOT_OWNED
    assert policy.check_sender("b@example.org", None) is None
    raw = b"From: =?utf-8?q?J=C3=B6rg?= <alias@example.org>\r\nSubject: x\r\n\r\nFrom: b@x\r\n"
    assert policy.header_from_addresses(raw) == ["alias@example.org"]
    assert policy.check_header_from(raw, owned) is None
    folded = b"From: Someone\r\n <b@example.org>\r\n\r\n"
    assert policy.check_header_from(folded, owned) == replies.SENDER_NOT_OWNED


def test_quota_policy() -> None:
    assert policy.check_quota([account(0, 10**9)], 10**6) is None
    assert policy.check_quota([account(1000, 1000)], None) == replies.MAILBOX_FULL_TEMP
    assert policy.check_quota([account(1000, 500)], 600) == replies.MAILBOX_FULL
    assert policy.check_quota([account(1000, 500)], 400) is None
    assert policy.check_recipient_count(100, 100) == replies.TOO_MANY_RECIPIENTS
    assert policy.check_size(11, 10) == replies.TOO_BIG


def test_dkim_key_and_dns_records() -> None:
    selector, pem, txt = dkim.generate_key()
    assert txt.startswith("v=DKIM1; k=rsa; p=")
    records = dkim.dns_records(
        "example.org", "mail.example.org", dkim_selector=selector, dkim_private_key=pem
    )
    text = "\n".join(records)
    assert "example.org. IN MX 10 mail.example.org." in text
    assert 'example.org. IN TXT "v=spf1 mx -all"' in text
    assert f"{selector}._domainkey.example.org. IN TXT" in text
    assert "_dmarc.example.org. IN TXT" in text
    for service in ("_submission", "_submissions", "_imap", "_imaps", "_pop3", "_pop3s"):
        assert f"{service}._tcp.example.org. IN SRV" in text
    assert "autoconfig.example.org. IN CNAME" in text
    assert "autodiscover.example.org. IN CNAME" in text
    message = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    signed = dkim.sign(message, "example.org", selector, pem)
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.sign(message, "example.org", selector, "not a key") == message


def test_report_layout() -> None:
    original = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    rcpt = ReportRecipient(
        "x@example.net",
        "failed",
        "5.1.1",
        "550 5.1.1 no such user",
        "mx.example.net",
        ("rfc822", "x@example.net"),
    )
    report = build_report(
        hostname="mail.example.org",
        to="a@example.org",
        original=original,
        recipients=[rcpt],
        envid="E1",
        ret="HDRS",
    )
    parsed = email.message_from_bytes(report)
    assert parsed["From"] == "Mail Delivery System <MAILER-DAEMON@mail.example.org>"
    kinds = [parsed.get_content_type()] + [p.get_content_type() for p in parsed.get_payload()]
    assert kinds == [
        "multipart/report",
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert b"<x@example.net>: host mx.example.net said: 550 5.1.1 no such user" in report
    assert b"Original-Envelope-Id: E1" in report
    assert b"body" not in report.split(b"text/rfc822-headers")[1]
    assert reply_status(550, "5.7.1 denied") == "5.7.1"
    assert reply_status(451, "busy") == "4.0.0"


async def test_spf_evaluation() -> None:
    zone = {
        ("TXT", "sender.example.com"): ["v=spf1 ip4:192.0.2.0/24 include:other.example.com -all"],
        ("TXT", "other.example.com"): ["v=spf1 a:host.other.example.com ~all"],
        ("A", "host.other.example.com"): ["198.51.100.7"],
        ("TXT", "soft.example.com"): ["v=spf1 redirect=other.example.com"],
        ("TXT", "two.example.com"): ["v=spf1 -all", "v=spf1 +all"],
    }

    async def query(name: str, rdtype: str) -> list[str]:
        if name == "broken.example.com":
            raise authres.DnsError(name)
        return zone.get((rdtype, name), [])

    async def check(ip: str, sender: str, helo: str) -> tuple[str, str]:
        return await authres.check_spf(ip, sender, helo, query)

    assert (await check("192.0.2.5", "a@sender.example.com", "h"))[0] == "pass"
    assert (await check("198.51.100.7", "a@sender.example.com", "h"))[0] == "pass"
    assert (await check("203.0.113.1", "a@sender.example.com", "h"))[0] == "fail"
    assert (await check("203.0.113.1", "a@soft.example.com", "h"))[0] == "softfail"
    assert (await check("203.0.113.1", "a@none.example.com", "h"))[0] == "none"
    assert (await check("203.0.113.1", "a@two.example.com", "h"))[0] == "permerror"
    assert (await check("203.0.113.1", "a@broken.example.com", "h"))[0] == "temperror"
    assert await check("203.0.113.1", "", "helo.example.com") == (
        "none",
        "postmaster@helo.example.com",
    )


async def test_reserved_names_are_not_looked_up() -> None:
    assert authres.is_reserved_domain("bench.test")
    assert authres.is_reserved_domain("mail.example.org")
    assert not authres.is_reserved_domain("example.de")
    assert await authres.DnsLookup(["127.0.0.1:9"])("x.test", "TXT") == []


def test_dns_records_from_records_and_config() -> None:
    from postfach.config import config_from_dict
    from postfach.store.records import Domain

    selector, pem, _ = dkim.generate_key()
    config = config_from_dict(
        {"server": {"hostname": "mx.example.org"}, "listeners": {"imap": "", "pop3": ""}}, "t"
    )
    records = dkim.dns_records(Domain(1, "example.org", selector, pem), config)
    text = "\n".join(records)
    assert "IN MX 10 mx.example.org." in text and f"{selector}._domainkey" in text
    assert "_imap._tcp" not in text and "_imaps._tcp.example.org. IN SRV 0 1 993" in text
