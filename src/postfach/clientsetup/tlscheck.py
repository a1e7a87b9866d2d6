"""The doctor's verdict on a server's certificate: one CheckResult from what the
TLS handshake showed (clientsetup/certs.py reads the certificate itself)."""

from __future__ import annotations

import datetime
import ssl

from postfach.clientsetup.certs import CertFacts, certificate_problems
from postfach.clientsetup.checks import CheckResult, Status, Step, Target

__all__ = ["chain_trusted", "tls_check"]

# OpenSSL verify codes after which the chain itself was trusted (x509_vfy.h):
# 9/10 not yet valid/expired, 62/64 host name/IP address mismatch.
_CHAIN_TRUSTED = frozenset({9, 10, 62, 64})


def chain_trusted(error: ssl.SSLCertVerificationError | None) -> bool:
    """Whether the chain was trusted, even where the check failed for another reason."""
    return error is None or error.verify_code in _CHAIN_TRUSTED


def tls_check(
    target: Target,
    facts: CertFacts,
    trusted: bool,
    now: datetime.datetime,
    offset: datetime.timedelta | None,
    version: str = "",
    error: ssl.SSLCertVerificationError | None = None,
) -> CheckResult:
    """PASS with the validity date, or the certificate's problems as WARN or FAIL;
    `offset` is the server's clock offset, when known, for dates near the edge."""
    problems = certificate_problems(facts, target.host, now, trusted=trusted, offset=offset)
    detail = f"{version} certificate for {', '.join(facts.names)}, issued by {facts.issuer}"
    if error is not None:
        detail += f"; {error.verify_message}"
    if not problems:
        until = facts.not_after.strftime("%Y-%m-%d")
        summary = f"encrypted; the certificate for {target.host} is valid until {until}"
        return CheckResult(
            target.protocol, Step.TLS, Status.PASS, summary, "", detail, target.label
        )
    status = Status.FAIL if any(p.fatal for p in problems) else Status.WARN
    return CheckResult(
        target.protocol,
        Step.TLS,
        status,
        "; ".join(p.summary for p in problems),
        "; ".join(p.hint for p in problems),
        detail,
        target.label,
    )
