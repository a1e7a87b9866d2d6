"""Delivery status notifications as RFC 3464 multipart/report messages (R20).

`build_report` writes the whole message: a human part that states the reason
(the remote server's own reply when there was one), the machine-readable
message/delivery-status part, and the original message or only its header
section, as the sender's RET parameter asked (RFC 3461 §4.3). Reports come from
`Mail Delivery System <MAILER-DAEMON@hostname>` and carry the null reverse-path.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ReportRecipient", "build_report", "reply_status"]

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

_SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
    "relayed": "Successful Mail Delivery Report",
}

_INTROS = {
    "failed": (
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. The reason is given below."
    ),
    "delayed": (
        "Your message could not be delivered yet to one or more recipients.\n"
        "Delivery will be retried; you do not need to send it again."
    ),
    "delivered": "Your message was successfully delivered to the recipients below.",
    "relayed": (
        "Your message was successfully relayed to the recipients below; the\n"
        "next server does not send further delivery notifications."
    ),
}


@dataclass(frozen=True, slots=True)
class ReportRecipient:
    """One recipient's outcome (RFC 3464 §2.3)."""

    address: str
    action: str  # "failed", "delayed", "delivered" or "relayed"
    status: str  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote reply ("550 5.1.1 No such user") or our own reason
    remote_mta: str = ""
    orcpt: tuple[str, str] | None = None  # RFC 3461 ORCPT (addr-type, address)
    retry_until: float | None = None  # RFC 3464 §2.3.9, for "delayed"


def reply_status(code: int, text: str) -> str:
    """The enhanced status of an SMTP reply, or one made from its code."""
    match = _ENHANCED.search(text)
    if match and match.group(1) == str(code)[0]:
        return ".".join(match.groups())
    return f"{str(code)[0]}.0.0" if code >= 400 else "2.0.0"


def build_report(
    *,
    hostname: str,
    to: str,
    original: bytes,
    recipients: Sequence[ReportRecipient],
    envid: str | None = None,
    ret: str | None = None,
    arrival: float | None = None,
) -> bytes:
    """A complete RFC 3464 report for `to` about `original`."""
    action = recipients[0].action if recipients else "failed"
    boundary = f"postfach-report-{secrets.token_hex(8)}"
    parts = [
        _human_part(hostname, action, recipients),
        _status_part(hostname, recipients, envid, arrival),
        _original_part(original, ret),
    ]
    head = _header(hostname, to, action, boundary)
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part for part in parts)
    return head + body + b"--" + boundary.encode() + b"--\r\n"


def _header(hostname: str, to: str, action: str, boundary: str) -> bytes:
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{to}>",
        f"Subject: {_SUBJECTS.get(action, _SUBJECTS['failed'])}",
        f"Date: {email.utils.formatdate(localtime=True)}",
        f"Message-ID: {email.utils.make_msgid(domain=hostname)}",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
    ]
    return _crlf(lines)


def _human_part(hostname: str, action: str, recipients: Sequence[ReportRecipient]) -> bytes:
    lines = [
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"This is the mail system at host {hostname}.",
        "",
        *_INTROS.get(action, _INTROS["failed"]).split("\n"),
        "",
    ]
    for rcpt in recipients:
        where = f"host {rcpt.remote_mta} said" if rcpt.remote_mta else "reason"
        reason = _one_line(rcpt.diagnostic) or rcpt.status
        lines.append(f"<{rcpt.address}>: {where}: {reason}")
    lines.append("")
    return _crlf(lines)


def _status_part(
    hostname: str, recipients: Sequence[ReportRecipient], envid: str | None, arrival: float | None
) -> bytes:
    lines = ["Content-Description: Delivery report", "Content-Type: message/delivery-status", ""]
    lines.append(f"Reporting-MTA: dns; {hostname}")
    if envid:
        lines.append(f"Original-Envelope-Id: {_one_line(envid)}")
    lines.append(f"Arrival-Date: {email.utils.formatdate(arrival or time.time(), localtime=True)}")
    now = email.utils.formatdate(localtime=True)
    for rcpt in recipients:
        lines.append("")
        if rcpt.orcpt:
            lines.append(f"Original-Recipient: {rcpt.orcpt[0]}; {_one_line(rcpt.orcpt[1])}")
        lines += [
            f"Final-Recipient: rfc822; {rcpt.address}",
            f"Action: {rcpt.action}",
            f"Status: {rcpt.status}",
        ]
        if rcpt.remote_mta:
            lines.append(f"Remote-MTA: dns; {rcpt.remote_mta}")
        if rcpt.diagnostic:
            lines.append(f"Diagnostic-Code: smtp; {_one_line(rcpt.diagnostic)}")
        lines.append(f"Last-Attempt-Date: {now}")
        if rcpt.retry_until is not None:
            until = email.utils.formatdate(rcpt.retry_until, localtime=True)
            lines.append(f"Will-Retry-Until: {until}")
    lines.append("")
    return _crlf(lines)


def _original_part(original: bytes, ret: str | None) -> bytes:
    if ret == "HDRS":
        end = original.find(b"\r\n\r\n")
        headers = original if end < 0 else original[: end + 2]
        return (
            _crlf(
                [
                    "Content-Description: Undelivered Message Headers",
                    "Content-Type: text/rfc822-headers",
                    "",
                ]
            )
            + headers
            + b"\r\n"
        )
    body = original if original.endswith(b"\r\n") else original + b"\r\n"
    head = ["Content-Description: Undelivered Message", "Content-Type: message/rfc822", ""]
    if any(b > 0x7F for b in original[:65536]):
        head.insert(2, "Content-Transfer-Encoding: 8bit")
    return _crlf(head) + body + b"\r\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")
