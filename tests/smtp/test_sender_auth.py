"""Sender authentication at the MX over the wire (issue 16 item 1).

A DNS server on 127.0.0.1 started here publishes SPF records, DKIM keys this
test generates and DMARC policies; mail comes in on the `smtp` listener
without AUTH and each verdict, the Authentication-Results header, the filing
into Spam and the refusal texts are checked.
"""

from __future__ import annotations

import base64
import email
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import TestServer, make_server
from postfach.smtp import replies
from support.dnszone import Zone, serve_zone

from .smtpmailbox import messages_in
from .smtpwire import Wire, reply_of

RECIPIENT = "alice@example.org"


def new_key() -> tuple[bytes, str]:
    """A 1024-bit RSA key (the smallest dkimpy takes; it fits a UDP answer)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


KEY, KEY_TXT = new_key()


def message(sender: str, subject: str = "hello", extra: str = "") -> bytes:
    return (
        f"From: Someone <{sender}>\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\n"
        f"Date: Sun, 06 Dec 2026 17:00:00 +0000\r\nMessage-ID: <{subject}@test>\r\n{extra}"
        "\r\nHello.\r\n"
    ).encode()


def signed(raw: bytes, domain: str, selector: str = "sel") -> bytes:
    signature = dkim.sign(
        raw, selector.encode(), domain.encode(), KEY, include_headers=[b"from", b"subject"]
    )
    return signature + raw


@pytest.fixture
def zone() -> Iterator[Zone]:
    zone = Zone()
    # good-pf.net: SPF allows loopback, DKIM key published, DMARC reject.
    zone.add("good-pf.net", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    zone.add("sel._domainkey.good-pf.net", "TXT", KEY_TXT)
    zone.add("_dmarc.good-pf.net", "TXT", "v=DMARC1; p=reject")
    # bank-pf.net: reject; attacker-pf.net passes SPF for itself only.
    zone.add("bank-pf.net", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    zone.add("_dmarc.bank-pf.net", "TXT", "v=DMARC1; p=reject; adkim=s")
    zone.add("attacker-pf.net", "TXT", "v=spf1 ip4:127.0.0.1 ~all")
    zone.add("sel._domainkey.attacker-pf.net", "TXT", KEY_TXT)
    zone.add("mail.bank-pf.net", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    zone.add("sel._domainkey.mail.bank-pf.net", "TXT", KEY_TXT)
    # shop-pf.net: quarantine; sampled-pf.net: reject for pct=0 of mail.
    zone.add("_dmarc.shop-pf.net", "TXT", "v=DMARC1; p=quarantine")
    zone.add("_dmarc.sampled-pf.net", "TXT", "v=DMARC1; p=reject; pct=0")
    # corp-pf.co.uk: the organisational domain below a public suffix; sp= for subdomains.
    zone.add("_dmarc.corp-pf.co.uk", "TXT", "v=DMARC1; p=none; sp=reject")
    # hard-pf.net: SPF -all without DMARC; flaky-pf.net: the DMARC look-up fails.
    zone.add("hard-pf.net", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    zone.add("flaky-pf.net", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    # Over SPF's limits (RFC 7208 §4.6.4): 3 void look-ups; 11 DNS-querying terms.
    voids = " ".join(f"a:v{i}.voids-pf.net" for i in range(3))
    zone.add("voids-pf.net", "TXT", f"v=spf1 {voids} ip4:127.0.0.1 -all")
    zone.add("deep-pf.net", "TXT", "v=spf1 include:d1.deep-pf.net ip4:127.0.0.1 -all")
    for i in range(1, 11):
        zone.add(f"d{i}.deep-pf.net", "TXT", f"v=spf1 include:d{i + 1}.deep-pf.net -all")
    zone.add("d11.deep-pf.net", "TXT", "v=spf1 -all")  # the 11th look-up
    zone.failing.add("_dmarc.flaky-pf.net")
    zone.failing.add("slow-spf-pf.net")
    with serve_zone(zone) as running:
        yield running


@pytest.fixture
async def mx(tmp_path: Path, zone: Zone) -> AsyncIterator[TestServer]:
    async with make_server(tmp_path, dns={"nameservers": [zone.address], "timeout": 2.0}) as srv:
        await srv.add_user(RECIPIENT, "pw")
        yield srv


async def deliver(server: TestServer, sender: str, raw: bytes) -> tuple[int, str]:
    """MAIL FROM sender, RCPT alice, DATA raw; the reply to the end of data
    (or to MAIL FROM when it is refused)."""
    wire = await Wire.open(server.host, server.port("smtp"))
    await wire.start()
    code, text = await wire.cmd(f"MAIL FROM:<{sender}>")
    if code != 250:
        return code, text
    await wire.expect(f"RCPT TO:<{RECIPIENT}>", 250)
    await wire.expect("DATA", 354)
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    await wire.send(stuffed + b".\r\n")
    reply = await wire.reply()
    await wire.expect("QUIT", 221)
    return reply


def results_of(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw)
    return [" ".join(str(v).split()) for v in parsed.get_all("Authentication-Results") or []]


async def test_aligned_spf_and_dkim_pass(mx: TestServer) -> None:
    raw = signed(message("news@good-pf.net", "good"), "good-pf.net")
    assert (await deliver(mx, "bounce@good-pf.net", raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    [header] = results_of(stored)
    assert header.startswith("mail.example.org; spf=pass smtp.mailfrom=bounce@good-pf.net")
    assert "dkim=pass header.d=good-pf.net header.s=sel" in header
    assert "dmarc=pass header.from=good-pf.net" in header
    assert "arc=none" in header


async def test_every_dkim_signature_is_reported(mx: TestServer) -> None:
    raw = signed(message("news@good-pf.net", "three"), "good-pf.net")
    raw = signed(raw, "attacker-pf.net")
    raw = signed(raw, "good-pf.net", "nokey")  # no key published for this selector
    assert (await deliver(mx, "bounce@good-pf.net", raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    [header] = results_of(stored)
    assert "dkim=permerror header.d=good-pf.net header.s=nokey" in header
    assert "dkim=pass header.d=attacker-pf.net header.s=sel" in header
    assert "dkim=pass header.d=good-pf.net header.s=sel" in header


async def test_dmarc_reject_refuses_at_end_of_data(mx: TestServer) -> None:
    # SPF passes for the attacker's own domain and its DKIM verifies, but
    # neither aligns with From: bank-pf.net.
    raw = signed(message("ceo@bank-pf.net", "phish"), "attacker-pf.net")
    reply = await deliver(mx, "x@attacker-pf.net", raw)
    assert reply == (550, "5.7.1 Rejected by DMARC policy for bank-pf.net")
    assert await messages_in(mx.ctx.store, RECIPIENT) == []


async def test_strict_dkim_alignment_refuses_a_subdomain(mx: TestServer) -> None:
    # adkim=s: a signature of mail.bank-pf.net does not speak for bank-pf.net;
    # the SPF identity mail.bank-pf.net passes but aspf is relaxed, so it aligns.
    raw = signed(message("ceo@bank-pf.net", "strict"), "mail.bank-pf.net")
    assert (await deliver(mx, "x@mail.bank-pf.net", raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    [header] = results_of(stored)
    assert "dmarc=pass" in header
    # From another IP's point of view (SPF fails), the strict DKIM check decides.
    raw = signed(message("ceo@bank-pf.net", "strict2"), "mail.bank-pf.net")
    reply = await deliver(mx, "x@attacker-pf.net", raw)
    assert reply == (550, "5.7.1 Rejected by DMARC policy for bank-pf.net")


async def test_dmarc_quarantine_files_into_spam(
    mx: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postfach")
    reply = await deliver(mx, "x@attacker-pf.net", message("orders@shop-pf.net", "quar"))
    assert reply[0] == 250
    assert await messages_in(mx.ctx.store, RECIPIENT) == []
    [stored] = await messages_in(mx.ctx.store, RECIPIENT, "Spam")
    [header] = results_of(stored)
    assert "dmarc=fail header.from=shop-pf.net policy.dmarc=quarantine" in header
    # The spam scorer got the same verdicts (ScanFacts.auth_results), not a header it parsed.
    status = " ".join(str(email.message_from_bytes(stored)["X-Spam-Status"]).split())
    assert "DMARC_FAIL(3.5)" in status, status
    logged = [r.getMessage() for r in caplog.records]
    assert any(line.endswith(f"to=<{RECIPIENT}> mailbox=Spam") for line in logged), logged


async def test_pct_samples_the_policy(mx: TestServer) -> None:
    # pct=0: no message gets p=reject; it falls back to quarantine (RFC 7489 §6.6.4).
    reply = await deliver(mx, "x@attacker-pf.net", message("a@sampled-pf.net", "pct"))
    assert reply[0] == 250
    assert len(await messages_in(mx.ctx.store, RECIPIENT, "Spam")) == 1


async def test_subdomain_policy_from_the_organisational_domain(mx: TestServer) -> None:
    # corp-pf.co.uk is below the public suffix co.uk: its record's sp=reject
    # governs news.corp-pf.co.uk, which publishes no record of its own.
    reply = await deliver(mx, "x@attacker-pf.net", message("n@news.corp-pf.co.uk", "sp"))
    assert reply == (550, "5.7.1 Rejected by DMARC policy for news.corp-pf.co.uk")
    # The organisational domain itself has p=none: delivered, reported as failing.
    assert (await deliver(mx, "x@attacker-pf.net", message("n@corp-pf.co.uk", "p")))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    assert "dmarc=fail header.from=corp-pf.co.uk policy.dmarc=none" in results_of(stored)[0]


async def test_broken_dkim_signature_is_reported_as_fail(mx: TestServer) -> None:
    raw = signed(message("news@good-pf.net", "tampered"), "good-pf.net")
    raw = raw.replace(b"Hello.", b"Hello, changed.")
    # SPF still passes and aligns: DMARC passes, DKIM is reported as failed.
    assert (await deliver(mx, "bounce@good-pf.net", raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    header = results_of(stored)[0]
    assert "dkim=fail header.d=good-pf.net" in header
    assert "dmarc=pass" in header


async def test_spf_fail_without_dmarc_is_refused(mx: TestServer) -> None:
    reply = await deliver(mx, "x@hard-pf.net", message("x@hard-pf.net", "spf"))
    assert reply == (550, "5.7.1 SPF check failed for hard-pf.net")


async def test_spf_lookup_limits_give_permerror(mx: TestServer) -> None:
    # Both records would pass 127.0.0.1 at their end, but past a limit SPF stops.
    for domain in ("voids-pf.net", "deep-pf.net"):
        assert (await deliver(mx, f"x@{domain}", message(f"x@{domain}", domain)))[0] == 250
    stored = await messages_in(mx.ctx.store, RECIPIENT)
    assert ["spf=permerror" in results_of(raw)[0] for raw in stored] == [True, True]


async def test_dns_failure_defers_never_accepts_unchecked(mx: TestServer) -> None:
    reply = await deliver(mx, "x@flaky-pf.net", message("x@flaky-pf.net", "flaky"))
    assert reply[0] == 451 and reply[1].startswith("4.4.3 ")
    reply = await deliver(mx, "x@slow-spf-pf.net", message("x@slow-spf-pf.net", "spf-fail"))
    assert reply == (451, "4.4.3 SPF lookup failed, try again later")
    assert await messages_in(mx.ctx.store, RECIPIENT) == []
    assert await messages_in(mx.ctx.store, RECIPIENT, "Spam") == []


async def test_arc_chain_is_verified(mx: TestServer) -> None:
    # A forwarder (good-pf.net) sealed the message after its own checks.
    before = "Authentication-Results: good-pf.net; spf=pass\r\n"
    raw = message("someone@elsewhere.test", "arc", before)
    sealed = dkim.arc_sign(raw, b"sel", b"good-pf.net", KEY, b"good-pf.net")
    assert (await deliver(mx, "fwd@elsewhere.test", b"".join(sealed) + raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    [ours] = [h for h in results_of(stored) if h.startswith("mail.example.org;")]
    assert "arc=pass" in ours


async def test_impersonating_our_own_domain_is_refused(mx: TestServer) -> None:
    refused = reply_of(replies.NOT_AUTHENTICATED_FOR_DOMAIN)
    assert refused == (550, "5.7.1 Sender address rejected: not authenticated for this domain")
    # The case: MAIL FROM and From: bob@example.org from a stranger.
    assert await deliver(mx, "bob@example.org", message("bob@example.org")) == refused
    # From: alone is enough.
    assert await deliver(mx, "x@elsewhere.test", message("Bob@Example.org")) == refused
    assert await messages_in(mx.ctx.store, RECIPIENT) == []


async def test_operator_may_allow_a_domain(tmp_path: Path, zone: Zone) -> None:
    allow = {"allow_unauthenticated_own_domains": ["example.org"]}
    async with make_server(tmp_path, dns={"nameservers": [zone.address]}, mx=allow) as srv:
        await srv.add_user(RECIPIENT, "pw")
        await srv.add_user("carol@other-own.test", "pw")
        assert (await deliver(srv, "bob@example.org", message("bob@example.org")))[0] == 250
        refused = reply_of(replies.NOT_AUTHENTICATED_FOR_DOMAIN)
        assert await deliver(srv, "x@other-own.test", message("x@elsewhere.test")) == refused


async def test_forged_authentication_results_are_removed(mx: TestServer) -> None:
    forged = (
        "Authentication-Results: mail.example.org; dkim=pass; dmarc=pass\r\n"
        "Authentication-Results: (comment) MAIL.EXAMPLE.ORG;\r\n spf=pass\r\n"
        "Authentication-Results: relay.elsewhere.test; spf=pass\r\n"
    )
    raw = message("stranger@elsewhere.test", "forged", forged)
    assert (await deliver(mx, "stranger@elsewhere.test", raw))[0] == 250
    [stored] = await messages_in(mx.ctx.store, RECIPIENT)
    headers = results_of(stored)
    ours = [h for h in headers if h.lower().startswith("mail.example.org")]
    assert len(ours) == 1 and "dkim=none" in ours[0] and "dmarc=none" in ours[0]
    assert "relay.elsewhere.test; spf=pass" in headers
    assert b"MAIL.EXAMPLE.ORG" not in stored
