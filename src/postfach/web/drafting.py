"""What the composer writes: a message from the form's fields, and the fields a
reply, a reply to all, a forward or a saved draft start from.

Pure: no store, no HTTP. Headers come from the stdlib's email package (the
`SMTP` policy folds and encodes them, RFC 2047 for non-ASCII); quoting follows
what mail programs do ("On DATE, NAME wrote:" and "> " lines).
"""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

__all__ = [
    "Draft",
    "FileAttachment",
    "build_message",
    "draft_from",
    "forward_of",
    "header_addresses",
    "reply_to",
]

_PREFIX = re.compile(r"^\s*((re|aw|fwd?|wg)\s*:\s*)+", re.I)
_HEADERS = BytesHeaderParser(policy=email.policy.default)


@dataclass(frozen=True, slots=True)
class FileAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """The composer's fields."""

    sender: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    attachments: tuple[FileAttachment, ...] = field(default=())


def header_addresses(value: str) -> list[str]:
    """The addresses in a To/Cc/Bcc field as typed ("Ann <a@x>, b@y; c@z")."""
    value = value.replace(";", ",")
    return [address for _name, address in email.utils.getaddresses([value]) if address]


def build_message(draft: Draft, *, message_id: str, keep_bcc: bool) -> bytes:
    """RFC 5322 with CRLF line ends; Bcc only in a saved draft, never in what is sent."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = draft.sender
    for name, value in (("To", draft.to), ("Cc", draft.cc)):
        if value.strip():
            message[name] = value.strip()
    if keep_bcc and draft.bcc.strip():
        message["Bcc"] = draft.bcc.strip()
    message["Subject"] = draft.subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        message["References"] = draft.references
    message.set_content(draft.body.replace("\r\n", "\n"), cte="quoted-printable")
    for item in draft.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not subtype:
            guessed = mimetypes.guess_type(item.filename)[0] or "application/octet-stream"
            maintype, _, subtype = guessed.partition("/")
        message.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=item.filename
        )
    return message.as_bytes()


def _headers(raw: bytes) -> Message:
    return _HEADERS.parsebytes(raw)


def _quote(text: str) -> str:
    return "\n".join(
        "> " + line if line else ">" for line in text.replace("\r\n", "\n").split("\n")
    )


def _base_subject(subject: str) -> str:
    return _PREFIX.sub("", subject).strip()


def reply_to(raw: bytes, body: str, own: list[str], sender: str, *, to_all: bool) -> Draft:
    """A reply (to all): to Reply-To or From; for all, the other To and Cc
    addresses too, never our own; the original quoted below."""
    headers = _headers(raw)
    author = str(headers.get("Reply-To") or headers.get("From") or "")
    mine = {a.lower() for a in own}
    to = [a for a in header_addresses(author) if a.lower() not in mine] or header_addresses(author)
    cc: list[str] = []
    if to_all:
        for name in ("To", "Cc"):
            for address in header_addresses(str(headers.get(name) or "")):
                if address.lower() not in mine and address not in to and address not in cc:
                    cc.append(address)
    message_id = str(headers.get("Message-ID") or "").strip()
    references = " ".join(filter(None, [str(headers.get("References") or "").strip(), message_id]))
    when = str(headers.get("Date") or "")
    who = str(headers.get("From") or "")
    return Draft(
        sender=sender,
        to=", ".join(to),
        cc=", ".join(cc),
        subject="Re: " + _base_subject(str(headers.get("Subject") or "")),
        body=f"\n\nOn {when}, {who} wrote:\n{_quote(body)}\n",
        in_reply_to=message_id,
        references=references,
    )


def forward_of(raw: bytes, body: str, sender: str) -> Draft:
    """A forward: the original's main headers and text below a separator (its
    attachments the caller carries over)."""
    headers = _headers(raw)
    lines = ["", "", "---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To", "Cc"):
        value = headers.get(name)
        if value:
            lines.append(f"{name}: {value}")
    return Draft(
        sender=sender,
        subject="Fwd: " + _base_subject(str(headers.get("Subject") or "")),
        body="\n".join(lines) + "\n\n" + body,
    )


def draft_from(raw: bytes, body: str, own: list[str]) -> Draft:
    """A saved draft back in the composer (its attachments the caller adds)."""
    headers = _headers(raw)
    sender_field = header_addresses(str(headers.get("From") or ""))
    sender = sender_field[0] if sender_field and sender_field[0] in own else own[0]
    return Draft(
        sender=sender,
        to=str(headers.get("To") or ""),
        cc=str(headers.get("Cc") or ""),
        bcc=str(headers.get("Bcc") or ""),
        subject=str(headers.get("Subject") or ""),
        body=body.replace("\r\n", "\n").removesuffix("\n"),  # set_content added that end
        in_reply_to=str(headers.get("In-Reply-To") or "").strip(),
        references=str(headers.get("References") or "").strip(),
    )
