"""SASL PLAIN (RFC 4616) and LOGIN, shared by SMTP, IMAP and POP3."""

from __future__ import annotations

import base64
import binascii

__all__ = [
    "LOGIN_PASSWORD_PROMPT",
    "LOGIN_USER_PROMPT",
    "SaslError",
    "b64decode_text",
    "decode_plain",
]

LOGIN_USER_PROMPT = base64.b64encode(b"Username:")
LOGIN_PASSWORD_PROMPT = base64.b64encode(b"Password:")


class SaslError(ValueError):
    """The client's SASL data is malformed (bad base64 or layout)."""


def b64decode_text(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    try:
        raw = base64.b64decode(data.strip(), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SaslError("invalid base64 data") from None


def decode_plain(data: bytes | str) -> tuple[str, str, str]:
    """Returns (authzid, authcid, password) from a base64 PLAIN response."""
    text = b64decode_text(data)
    parts = text.split("\x00")
    if len(parts) != 3 or not parts[1]:
        raise SaslError("malformed PLAIN response")
    authzid, authcid, password = parts
    return authzid, authcid, password
