"""What is wrong with a server certificate, in words a user understands (R8).

Pure functions over the DER bytes the server sent: the names it is for, its
validity period against this computer's clock (and, when the server's own
clock is known, whether the clock or the certificate is at fault), whether it
is self-signed. OpenSSL stops at its first complaint; this module lists all.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

__all__ = [
    "CertFacts",
    "CertProblem",
    "certificate_problems",
    "describe_offset",
    "host_matches",
    "read_certificate",
]

# A clock difference smaller than this explains nothing.
CLOCK_SLACK = datetime.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    names: tuple[str, ...]  # DNS and IP subject alternative names, or the CN without them
    not_before: datetime.datetime
    not_after: datetime.datetime
    self_signed: bool


@dataclass(frozen=True, slots=True)
class CertProblem:
    kind: str  # "name", "expired", "not-yet-valid", "self-signed", "untrusted"
    fatal: bool  # False: a warning (self-signed: accept it once, or trust it)
    summary: str
    hint: str


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def read_certificate(der: bytes) -> CertFacts | None:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names.append(_common_name(cert.subject))
    return CertFacts(
        subject=_common_name(cert.subject),
        issuer=_common_name(cert.issuer),
        names=tuple(names),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=_is_self_signed(cert),
    )


def host_matches(names: tuple[str, ...], host: str) -> bool:
    """RFC 6125 §6.4: exact match, or a wildcard for exactly the leftmost label."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    for name in (n.lower().rstrip(".") for n in names):
        if ip is not None:
            if _same_ip(name, ip):
                return True
            continue
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _same_ip(name: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(name) == ip
    except ValueError:
        return False


def _span(delta: datetime.timedelta) -> str:
    """'3 days', '2 hours', '7 minutes': the biggest unit that fits."""
    seconds = abs(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"


def _when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_offset(offset: datetime.timedelta) -> str:
    """`offset` is the server's clock minus this computer's."""
    if abs(offset) < CLOCK_SLACK:
        return "this computer's clock agrees with the server's"
    side = "behind" if offset > datetime.timedelta(0) else "ahead of"
    return f"this computer's clock is {_span(offset)} {side} the server's"


def _name_problem(facts: CertFacts, host: str) -> CertProblem:
    names = ", ".join(facts.names) or facts.subject
    return CertProblem(
        "name",
        True,
        f"the certificate is for another host name: it names {names}, not {host}",
        f"enter the server name the certificate is for ({facts.names[0] if facts.names else ''})"
        f" in the mail program, or the operator must get a certificate that includes {host}",
    )


def _time_problems(
    facts: CertFacts, now: datetime.datetime, offset: datetime.timedelta | None
) -> list[CertProblem]:
    here = f"this computer's clock says {_when(now)}"
    server_now = now + offset if offset is not None else None
    if now > facts.not_after:
        summary = (
            f"the certificate expired on {_when(facts.not_after)},"
            f" {_span(now - facts.not_after)} ago ({here})"
        )
        if offset is not None and server_now is not None and server_now <= facts.not_after:
            hint = f"{describe_offset(offset)}: set the correct date and time on this computer"
        elif offset is not None:
            hint = (
                f"{describe_offset(offset)}, so the certificate really has expired:"
                " the server's operator must renew it"
            )
        else:
            hint = (
                "if this computer's date and time are right, the server's operator must"
                " renew the certificate; otherwise correct the clock here"
            )
        return [CertProblem("expired", True, summary, hint)]
    if now < facts.not_before:
        summary = (
            f"the certificate is not yet valid: it starts on {_when(facts.not_before)},"
            f" {_span(facts.not_before - now)} from now ({here})"
        )
        if offset is not None and server_now is not None and server_now >= facts.not_before:
            hint = f"{describe_offset(offset)}: set the correct date and time on this computer"
        elif offset is not None:
            hint = (
                f"{describe_offset(offset)}: the certificate was made with a start date in"
                " the future; the server's operator must replace it"
            )
        else:
            hint = (
                "check the date and time on this computer; if they are right, the"
                " certificate was made on a server whose clock is ahead"
            )
        return [CertProblem("not-yet-valid", True, summary, hint)]
    return []


def certificate_problems(
    facts: CertFacts,
    host: str,
    now: datetime.datetime,
    *,
    trusted: bool,
    offset: datetime.timedelta | None = None,
) -> list[CertProblem]:
    """Everything a mail program would complain about; [] for a good certificate."""
    problems: list[CertProblem] = []
    if not host_matches(facts.names, host):
        problems.append(_name_problem(facts, host))
    problems += _time_problems(facts, now, offset)
    if facts.self_signed and not trusted:
        problems.append(
            CertProblem(
                "self-signed",
                False,
                "the certificate is self-signed: no authority vouches for it, so the mail"
                " program asks once whether to accept it",
                "install a real certificate (e.g. from Let's Encrypt) as [tls] cert and key, or"
                " accept this certificate once in the mail program (check its fingerprint)",
            )
        )
    elif not trusted and not problems:
        problems.append(
            CertProblem(
                "untrusted",
                True,
                f"the certificate was issued by {facts.issuer}, which this computer does not trust",
                "the server must send its full chain (certificate plus intermediate"
                " certificates); for a private authority, install its root certificate here",
            )
        )
    return problems
