"""Pure policy decisions for SMTP: each function returns a `Reply` to refuse, or None.

Nothing here does I/O; the session gathers the facts (is the domain local, which
addresses does the account own, how full is the mailbox) and asks. Listener
roles follow DESIGN.md: `smtp` is the MX, `submission`/`submissions` take mail
from users, `devices` takes plaintext AUTH and delivers only locally (R7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from postfach.message.address import header_from_addresses
from postfach.smtp import replies
from postfach.store.records import Account

__all__ = [
    "MAX_ERRORS",
    "MAX_JUNK_COMMANDS",
    "ListenerRules",
    "auth_refusal",
    "check_header_from",
    "check_own_domain",
    "check_quota",
    "check_recipient_count",
    "check_route",
    "check_sender",
    "check_size",
    "is_spam",
    "mail_refusal",
    "rules_for",
]

MAX_ERRORS = 20  # errors in one session before 421 (Postfix smtpd_hard_error_limit)
MAX_JUNK_COMMANDS = 100  # NOOP/RSET/VRFY/HELP/EHLO/AUTH... outside transactions

# The GTUBE test string: the one message every spam filter must refuse (R19).
_GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@dataclass(frozen=True, slots=True)
class ListenerRules:
    name: str
    mx: bool  # takes unauthenticated mail for local domains (port 25)
    auth_required: bool  # 530 before MAIL without AUTH (R17)
    starttls: bool  # STARTTLS is offered
    plaintext_auth: bool  # AUTH allowed before TLS
    local_only: bool  # foreign recipients refused even after AUTH (devices, R7)


def rules_for(name: str, allow_plaintext: bool) -> ListenerRules:
    if name == "smtp":
        return ListenerRules(name, True, False, True, allow_plaintext, False)
    if name == "submission":
        return ListenerRules(name, False, True, True, allow_plaintext, False)
    if name == "submissions":
        return ListenerRules(name, False, True, False, allow_plaintext, False)
    if name == "devices":
        return ListenerRules(name, False, True, False, True, True)
    raise ValueError(f"not an SMTP listener: {name}")


def auth_refusal(rules: ListenerRules, tls: bool) -> replies.Reply | None:
    """May AUTH run now? RFC 4954 §4: plaintext mechanisms want TLS first."""
    if tls or rules.plaintext_auth:
        return None
    return replies.ENCRYPTION_REQUIRED


def mail_refusal(rules: ListenerRules, authenticated: bool) -> replies.Reply | None:
    if rules.auth_required and not authenticated:
        return replies.AUTH_REQUIRED
    return None


def check_size(declared: int | None, max_size: int) -> replies.Reply | None:
    """RFC 1870 §6: a declared SIZE over the limit is refused at MAIL."""
    if declared is not None and max_size and declared > max_size:
        return replies.TOO_BIG
    return None


def _owns(address: str, owned: frozenset[str]) -> bool:
    return address.lower() in owned


def check_sender(address: str, owned: frozenset[str] | None) -> replies.Reply | None:
    """R18: an authenticated MAIL FROM must be the account's address or an alias."""
    if owned is None or address == "" or _owns(address, owned):
        return None
    return replies.SENDER_NOT_OWNED


def check_header_from(raw: bytes, owned: frozenset[str] | None) -> replies.Reply | None:
    """R18 for the header: every From: address must be owned too."""
    if owned is None:
        return None
    for address in header_from_addresses(raw):
        if not _owns(address, owned):
            return replies.SENDER_NOT_OWNED
    return None


def check_own_domain(
    addresses: Iterable[str], local_domains: frozenset[str], allowed: frozenset[str]
) -> replies.Reply | None:
    """Issue 16: mail without AUTH may not claim one of our own domains (MAIL FROM
    or From:), unless the operator allows it for that domain
    ([mx] allow_unauthenticated_own_domains)."""
    for address in addresses:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain in local_domains and domain not in allowed:
            return replies.NOT_AUTHENTICATED_FOR_DOMAIN
    return None


def check_route(rules: ListenerRules, authenticated: bool, local: bool) -> replies.Reply | None:
    """Local domains always; foreign ones only after AUTH, and never on `devices`."""
    if local:
        return None
    if rules.local_only:
        return replies.LOCAL_ONLY
    if not authenticated:
        return replies.RELAY_DENIED
    return None


def check_recipient_count(count: int, limit: int) -> replies.Reply | None:
    """RFC 5321 §4.5.3.1.10: past the cap, 452 and the client sends the rest later."""
    if limit and count >= limit:
        return replies.TOO_MANY_RECIPIENTS
    return None


def check_quota(accounts: Iterable[Account], declared: int | None) -> replies.Reply | None:
    """452 4.2.2 when every target mailbox is full, 552 5.2.2 when SIZE cannot fit."""
    targets = list(accounts)
    limited = [a for a in targets if a.quota_bytes]
    if not targets or len(limited) < len(targets):
        return None
    if all(a.used_bytes >= a.quota_bytes for a in limited):
        return replies.MAILBOX_FULL_TEMP
    if declared is not None and all(a.used_bytes + declared > a.quota_bytes for a in limited):
        return replies.MAILBOX_FULL
    return None


def check_nul(raw: bytes, binary: bool) -> replies.Reply | None:
    """NUL is not text (RFC 5322 §2.2, RFC 2045 §2.7-2.8: not even in 8bit data) and
    IMAP could serve it in no plain literal (RFC 9051 §4.3); only BODY=BINARYMIME
    content sent by BDAT may carry it (RFC 3030 §3, RFC 2045 §2.9)."""
    if not binary and b"\0" in raw:
        return replies.NUL_IN_MESSAGE
    return None


def is_spam(raw: bytes) -> bool:
    return _GTUBE in raw
