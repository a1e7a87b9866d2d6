"""The MTA-STS policy (RFC 8461) of our domains, and its id for the _mta-sts TXT record.

Every domain gets the same policy: mail for it goes to this server's name(s),
over TLS with a certificate valid for that name (`enforce`), or with failures
only reported (`testing`, to TLS-RPT's address, RFC 8460).
"""

from __future__ import annotations

import hashlib

from postfach.config import Config

__all__ = ["policy_id", "policy_text"]


def policy_text(config: Config) -> str:
    """The policy file: the mode of [mta_sts] and our MX name(s), lines ending CRLF."""
    names = dict.fromkeys((config.public_name, config.server.hostname))
    lines = ["version: STSv1", f"mode: {config.mta_sts.mode}"]
    lines += [f"mx: {name}" for name in names]
    lines.append(f"max_age: {config.mta_sts.max_age}")
    return "\r\n".join(lines) + "\r\n"


def policy_id(config: Config) -> str:
    """The `id` of the _mta-sts TXT record: it changes whenever the policy does, which
    tells senders to fetch it again (§3.1: 1 to 32 letters and digits)."""
    return hashlib.sha256(policy_text(config).encode()).hexdigest()[:20]
