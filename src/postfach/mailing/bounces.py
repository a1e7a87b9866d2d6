"""Delivery reports: what bounced, how hard, and which campaign message it was (R25).

A report is read in three ways, most exact first:
1. RFC 3464 `message/delivery-status` (Postfix, Exchange, Gmail, Yandex and
   modern Exim write it): per recipient the Final-Recipient, Action, Status
   and Diagnostic-Code. `failed` with a 5.x.x status is hard; `delayed`, or a
   4.x.x status, is soft (RFC 3464 §2.3.3, RFC 3463 §3.1).
2. Otherwise flufl.bounce's detectors (classic Exim text, qmail, old Exchange,
   ...) give the permanent and temporary failures.
3. The message is tied to a campaign recipient by the token in its VERP address
   (To, Delivered-To, X-Original-To, ...) or in the Message-ID of the quoted
   original; without a token, by the bounced address's latest campaign message.

`read_report()` is pure: bytes in, `Report` out, never an exception.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import logging
import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from postfach.mailing.tokens import find_tokens

__all__ = ["Bounce", "Report", "read_report"]

log = logging.getLogger(__name__)

_ADDRESS_HEADERS = (
    "To",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Failed-Recipients",
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_LINE = re.compile(r"\b([45]\d\d)[ -]((?:[45]\.\d{1,3}\.\d{1,3} )?[^\r\n]*)")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Bounce:
    address: str
    hard: bool
    status: str  # "5.1.1", or "" when the report gives none
    diagnostic: str  # the remote reply as the report quotes it


@dataclass(slots=True)
class Report:
    bounces: list[Bounce] = field(default_factory=list)
    header_tokens: list[str] = field(default_factory=list)  # VERP: the report's own addressees
    body_tokens: list[str] = field(default_factory=list)  # quoted original (Message-ID, ...)
    is_report: bool = False
    subject: str = ""

    @property
    def tokens(self) -> list[str]:
        return list(dict.fromkeys(self.header_tokens + self.body_tokens))


def read_report(raw: bytes) -> Report:
    try:
        return _read(raw)
    except Exception:  # a malformed message is "not a report", never a crash
        log.debug("unreadable message in the bounce mailbox", exc_info=True)
        return Report()


def _read(raw: bytes) -> Report:
    msg = email.message_from_bytes(raw)
    report = Report(subject=str(msg.get("Subject", "")))
    heads = " ".join(str(v) for name in _ADDRESS_HEADERS for v in msg.get_all(name, []))
    report.header_tokens = find_tokens(heads)
    report.body_tokens = [t for t in find_tokens(raw.decode("latin-1")) if t not in heads]
    report.bounces = _from_dsn(msg)
    if not report.bounces:
        report.bounces = _from_heuristics(msg, raw)
    sender = str(msg.get("From", "")) + " " + str(msg.get("Return-Path", ""))
    report.is_report = bool(report.bounces) and (
        msg.get_content_type() == "multipart/report"
        or bool(_DAEMON.search(sender))
        or parseaddr(str(msg.get("Return-Path", "")))[1] == ""
    )
    return report


def _from_dsn(msg: email.message.Message) -> list[Bounce]:
    """RFC 3464 §2.3: the per-recipient blocks of every message/delivery-status part."""
    found: list[Bounce] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:  # the first block (per-message fields) names no recipient
            if not isinstance(block, email.message.Message):
                continue
            bounce = _dsn_block(block)
            if bounce is not None:
                found.append(bounce)
    return found


def _dsn_block(block: email.message.Message) -> Bounce | None:
    recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
    address = recipient.partition(";")[2].strip() if ";" in recipient else recipient.strip()
    address = address.strip("<>")
    if "@" not in address:
        return None
    action = str(block.get("Action", "")).strip().lower()
    status_text = str(block.get("Status", ""))
    match = _STATUS.search(status_text)
    status = ".".join(match.groups()) if match else ""
    diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
    diagnostic = diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic
    if action in {"delivered", "relayed", "expanded"}:
        return None
    if action == "delayed" or status.startswith("4"):
        return Bounce(address, False, status, diagnostic)
    if action == "failed" or status.startswith("5"):
        return Bounce(address, True, status, diagnostic)
    return None


def _from_heuristics(msg: email.message.Message, raw: bytes) -> list[Bounce]:
    temporary, permanent = all_failures(msg)
    text = raw.decode("utf-8", "replace")
    bounces = []
    for hard, addresses in ((True, permanent), (False, temporary)):
        for encoded in sorted(addresses):
            address = encoded.decode("ascii", "replace")
            diagnostic = _diagnostic_near(text, address)
            match = _STATUS.search(diagnostic)
            status = ".".join(match.groups()) if match else ("5.0.0" if hard else "4.0.0")
            bounces.append(Bounce(address, hard, status, diagnostic))
    if not bounces:
        for name, value in getaddresses(msg.get_all("X-Failed-Recipients", [])):
            if "@" in value:
                bounces.append(Bounce(value, True, "5.0.0", _diagnostic_near(text, value) or name))
    return bounces


def _diagnostic_near(text: str, address: str) -> str:
    """The first SMTP reply quoted after the address (classic text bounces)."""
    start = text.lower().find(address.lower())
    match = _REPLY_LINE.search(text, max(start, 0))
    return " ".join(match.group(0).split()) if match else ""
