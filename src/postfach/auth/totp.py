"""Two-factor sign-in for the web pages: TOTP (RFC 6238) and recovery codes.

pyotp computes the codes; what is ours is the policy. A code is accepted one
step either side of now (30 s each, clocks drift), and a step once only
(RFC 6238 §5.2): the caller records the step it accepted and refuses any step
not after it. Recovery codes carry 50 random bits each, so they are stored as
SHA-256 (a slow hash adds nothing to a secret nobody can guess), are shown
once, and work once. The QR code is an SVG made by segno, put in the page as a
data: URL (the pages' policy allows data: images and no scripts).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import pyotp

__all__ = [
    "RECOVERY_CODES",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "qr_data_url",
    "recovery_digest",
    "totp_step",
]

RECOVERY_CODES = 10
_STEP = 30
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_NOT_CODE = re.compile(r"[\s-]+")


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 §4 recommends


def provisioning_uri(secret: str, address: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=address, issuer_name=issuer)


def qr_data_url(uri: str) -> str:
    import segno  # only when a user sets up two-factor: a worker need not hold it

    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is (now, or one step either side), else None."""
    code = _NOT_CODE.sub("", code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        at = moment + offset * _STEP
        if secrets.compare_digest(totp.at(at), code):
            return int(at // _STEP)
    return None


def new_recovery_codes() -> list[str]:
    """Codes like `k7mq-4xhp-2a`: ten letters or digits from an unambiguous set."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_digest(code: str) -> str | None:
    """What is stored for a recovery code (and looked up for one typed in any
    case, with or without its dashes); None when it cannot be one."""
    raw = _NOT_CODE.sub("", code).lower()
    if len(raw) != 10 or any(char not in _ALPHABET for char in raw):
        return None
    return hashlib.sha256(raw.encode()).hexdigest()
