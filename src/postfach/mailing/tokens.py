"""Tokens that tie a sent message back to its campaign and recipient.

Each recipient row has a random 24-character base32 token. It appears in
- the return path, VERP style: `news+pf-<campaign>-<token>@relay.example`, so a
  delivery report addressed to it names the recipient by itself;
- the Message-ID, `<pf-<campaign>-<token>@sender.domain>`, which reports quote
  in their attached original (RFC 3464 §2: message/rfc822 or text/rfc822-headers);
- the one-click unsubscribe link (RFC 8058), `<base>/unsubscribe/<token>`.
"""

from __future__ import annotations

import re

__all__ = [
    "TOKEN_RE",
    "find_tokens",
    "message_id",
    "return_path",
    "unsubscribe_url",
]

TOKEN_RE = re.compile(r"[a-z2-7]{24}")
_TAGGED = re.compile(r"pf-\d+-([a-z2-7]{24})(?![a-z2-7])", re.IGNORECASE)


def return_path(sender_address: str, campaign_id: int, token: str) -> str:
    local, _, domain = sender_address.rpartition("@")
    return f"{local}+pf-{campaign_id}-{token}@{domain}"


def message_id(sender_address: str, campaign_id: int, token: str) -> str:
    domain = sender_address.rpartition("@")[2] or "localhost"
    return f"<pf-{campaign_id}-{token}@{domain}>"


def unsubscribe_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/unsubscribe/{token}"


def find_tokens(text: str) -> list[str]:
    """Every token tagged `pf-<campaign>-` in `text`, in order, without repeats."""
    seen: dict[str, None] = {}
    for match in _TAGGED.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)
