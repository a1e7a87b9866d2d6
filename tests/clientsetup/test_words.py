"""The pure parts of the doctor: reply classification, targets, certificates, clocks."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postfach.clientsetup.certs import (
    CertFacts,
    certificate_problems,
    describe_offset,
    host_matches,
    read_certificate,
)
from postfach.clientsetup.checks import Target, parse_target
from postfach.clientsetup.clock import find_date, server_offset
from postfach.clientsetup.dialogs import Reply, Verdict, classify_login, spoken_protocol
from postfach.clientsetup.login_words import send_as_result

from .kit import make_cert

# What servers answer to a refused login: postfach's own words (DESIGN.md) and the
# texts the big providers are known to send.
LOGIN_REPLIES = [
    (Reply(False, "a1 NO [AUTHENTICATIONFAILED] Authentication failed"), Verdict.BAD_CREDENTIALS),
    (Reply(False, "a1 NO [UNAVAILABLE] IMAP is disabled for this account"), Verdict.DISABLED),
    (Reply(False, "-ERR [AUTH] login failure or POP3 disabled"), Verdict.BAD_OR_DISABLED),
    (Reply(False, "-ERR [SYS/TEMP] too many failed logins, try again later"), Verdict.THROTTLED),
    (
        Reply(False, "-ERR [AUTH] plaintext authentication is refused; use STLS first"),
        Verdict.NEED_TLS,
    ),
    (Reply(False, "535 5.7.8 Authentication credentials invalid", 535), Verdict.BAD_CREDENTIALS),
    (
        Reply(False, "454 4.7.0 Too many failed login attempts, try again later", 454),
        Verdict.THROTTLED,
    ),
    (Reply(False, "503 5.5.1 AUTH not available on this port", 503), Verdict.NOT_OFFERED),
    (Reply(False, "530 5.7.0 Must issue a STARTTLS command first", 530), Verdict.NEED_TLS),
    (
        Reply(
            False,
            "a1 NO [ALERT] Application-specific password required: "
            "https://support.google.com/accounts/answer/185833 (Failure)",
        ),
        Verdict.APP_PASSWORD,
    ),
    (
        Reply(
            False, "534-5.7.9 Application-specific password required. / 534 5.7.9 Learn more", 534
        ),
        Verdict.APP_PASSWORD,
    ),
    (
        Reply(
            False,
            "534-5.7.14 Please log in via your web browser and / 534 5.7.14 then try again",
            534,
        ),
        Verdict.WEB_SIGN_IN,
    ),
    (
        Reply(False, "a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"),
        Verdict.BAD_CREDENTIALS,
    ),
    (Reply(False, "a1 NO LOGIN failed."), Verdict.BAD_CREDENTIALS),
    (
        Reply(False, "a1 NO [AUTHENTICATIONFAILED] Application password is REQUIRED"),
        Verdict.APP_PASSWORD,
    ),
    (
        Reply(
            False,
            "a1 NO [AUTHENTICATIONFAILED] This user does not have access rights to this service",
        ),
        Verdict.BAD_OR_DISABLED,
    ),
    (Reply(False, "-ERR POP3 access is disabled for this account"), Verdict.DISABLED),
    (Reply(True, "a1 OK LOGIN completed"), Verdict.OK),
]


@pytest.mark.parametrize(("reply", "verdict"), LOGIN_REPLIES)
def test_classify_login(reply: Reply, verdict: Verdict) -> None:
    assert classify_login(reply) is verdict


@given(st.text(max_size=300), st.integers(min_value=0, max_value=999), st.booleans())
def test_classify_login_never_raises(text: str, code: int, ok: bool) -> None:
    assert isinstance(classify_login(Reply(ok, text, code)), Verdict)
    assert spoken_protocol(text) in {"", "IMAP", "POP3", "SMTP", "HTTP", "SSH"}
    find_date(text)


@pytest.mark.parametrize(
    ("line", "protocol"),
    [
        ("* OK [CAPABILITY IMAP4rev2] ready", "IMAP"),
        ("* BYE too many connections", "IMAP"),
        ("+OK POP3 ready", "POP3"),
        ("220 mx.example.org ESMTP", "SMTP"),
        ("421 4.7.0 too busy", "SMTP"),
        ("HTTP/1.1 400 Bad Request", "HTTP"),
        ("SSH-2.0-OpenSSH_9.6", "SSH"),
        ("\x16\x03\x01garbage", ""),
    ],
)
def test_spoken_protocol(line: str, protocol: str) -> None:
    assert spoken_protocol(line) == protocol


@pytest.mark.parametrize(
    ("protocol", "text", "target"),
    [
        ("IMAP", "imap.example.org:993", Target("IMAP", "imap.example.org", 993, "SSL/TLS")),
        ("IMAP", "imap.example.org:143", Target("IMAP", "imap.example.org", 143, "STARTTLS")),
        ("POP3", "h:995", Target("POP3", "h", 995, "SSL/TLS")),
        ("SMTP", "h:587", Target("SMTP", "h", 587, "STARTTLS")),
        ("SMTP", "h:465", Target("SMTP", "h", 465, "SSL/TLS")),
        ("SMTP", "h:2525/ssl", Target("SMTP", "h", 2525, "SSL/TLS")),
        ("IMAP", "[::1]:1143/none", Target("IMAP", "::1", 1143, "none")),
        ("POP3", "h:1110/STARTTLS", Target("POP3", "h", 1110, "STARTTLS")),
    ],
)
def test_parse_target(protocol: str, text: str, target: Target) -> None:
    assert parse_target(protocol, text) == target


@pytest.mark.parametrize("text", ["h", "h:", ":993", "h:99999", "h:993/wat", "h:abc"])
def test_parse_target_errors(text: str) -> None:
    with pytest.raises(ValueError, match="IMAP|imap"):
        parse_target("IMAP", text)


def test_target_label() -> None:
    assert Target("IMAP", "::1", 993, "SSL/TLS").label == "[::1]:993 (SSL/TLS)"


@pytest.mark.parametrize(
    ("names", "host", "ok"),
    [
        (("mail.example.org",), "mail.example.org", True),
        (("mail.example.org",), "MAIL.example.org.", True),
        (("*.example.org",), "mail.example.org", True),
        (("*.example.org",), "a.b.example.org", False),
        (("*.example.org",), "example.org", False),
        (("mail.example.org",), "imap.example.org", False),
        (("127.0.0.1",), "127.0.0.1", True),
        (("localhost",), "127.0.0.1", False),
        (("::1",), "::1", True),
    ],
)
def test_host_matches(names: tuple[str, ...], host: str, ok: bool) -> None:
    assert host_matches(names, host) is ok


NOW = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=datetime.UTC)


def _facts(
    start: datetime.datetime, end: datetime.datetime, self_signed: bool = False
) -> CertFacts:
    return CertFacts("mail.example.org", "R11", ("mail.example.org",), start, end, self_signed)


def test_certificate_problems_words() -> None:
    good = _facts(NOW - datetime.timedelta(days=10), NOW + datetime.timedelta(days=80))
    assert certificate_problems(good, "mail.example.org", NOW, trusted=True) == []
    [untrusted] = certificate_problems(good, "mail.example.org", NOW, trusted=False)
    assert untrusted.kind == "untrusted" and "issued by R11" in untrusted.summary
    [name] = certificate_problems(good, "imap.example.org", NOW, trusted=True)
    assert name.fatal and "not imap.example.org" in name.summary

    expired = _facts(NOW - datetime.timedelta(days=100), NOW - datetime.timedelta(days=2))
    [p] = certificate_problems(expired, "mail.example.org", NOW, trusted=True)
    assert p.kind == "expired" and "2 days ago" in p.summary
    [p] = certificate_problems(
        expired, "mail.example.org", NOW, trusted=True, offset=-datetime.timedelta(days=3)
    )
    assert "3 days ahead of the server's" in p.hint and "set the correct date" in p.hint
    [p] = certificate_problems(
        expired, "mail.example.org", NOW, trusted=True, offset=datetime.timedelta(seconds=20)
    )
    assert "agrees with the server's" in p.hint and "renew" in p.hint

    self_signed = _facts(NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=9), True)
    [p] = certificate_problems(self_signed, "mail.example.org", NOW, trusted=False)
    assert p.kind == "self-signed" and not p.fatal


def test_read_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert_path, _ = make_cert(tmp_path, ["a.example", "b.example"])
    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(Encoding.DER)
    facts = read_certificate(der)
    assert facts is not None and facts.names == ("a.example", "b.example") and facts.self_signed
    assert read_certificate(b"not a certificate") is None


def test_find_date_and_offset() -> None:
    greeting = "220 mx.example.net ESMTP Exim 4.96 Sat, 01 Jun 2030 15:00:07 +0300"
    found = find_date(greeting)
    assert found == datetime.datetime(2030, 6, 1, 12, 0, 7, tzinfo=datetime.UTC)
    assert find_date("220 mx.example.net ESMTP postfach") is None
    offset = server_offset([(found, NOW)])
    assert offset == datetime.timedelta(seconds=7)
    assert describe_offset(offset) == "this computer's clock agrees with the server's"
    assert describe_offset(datetime.timedelta(hours=2)) == (
        "this computer's clock is 2 hours behind the server's"
    )
    assert server_offset([]) is None


def test_send_as_words() -> None:
    t = Target("SMTP", "h", 25, "STARTTLS")
    warn = send_as_result(t, "a@b.example", Reply(True, "250 2.1.0 OK", 250), logged_in=False)
    assert warn.status == "warn" and "port 25 is for mail between servers" in warn.summary
    other = send_as_result(t, "a@b.example", Reply(False, "550 5.1.0 no", 550), logged_in=True)
    assert other.status == "fail" and "refused a@b.example as the sender" in other.summary
