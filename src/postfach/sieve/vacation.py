"""Vacation (RFC 5230): whether a message may be answered (§4.5, §4.6) and the
reply itself (§5). Whether this sender was answered within :days is the store's
to say (store.sieve.vacation_seen); the rest is decided here, without I/O."""

from __future__ import annotations

import email.header
import email.utils
import hashlib
from collections.abc import Iterable

from postfach.sieve.actions import Vacation
from postfach.sieve.mailview import MailView, split_address

__all__ = ["MIN_DAYS", "build_reply", "days_of", "handle_of", "refusal"]

MIN_DAYS = 1  # RFC 5230 §4.1: :days below 1 is raised to the minimum
# Senders that are programs, not people (RFC 5230 §4.6 names these).
_ROBOT_LOCALS = frozenset({"mailer-daemon", "listserv", "majordomo", "postmaster"})
_LIST_HEADERS = (
    "List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post",
    "List-Owner", "List-Archive",
)  # fmt: skip
_RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")


def days_of(vacation: Vacation, max_days: int) -> int:
    return max(MIN_DAYS, min(vacation.days, max_days))


def handle_of(vacation: Vacation) -> str:
    """:handle, or one made of what the reply says (§4.2: same reply, same handle)."""
    if vacation.handle:
        return "handle:" + vacation.handle
    made = "\0".join((vacation.reason, vacation.subject, vacation.sender, *vacation.addresses))
    return "made:" + hashlib.sha256(made.encode()).hexdigest()


def refusal(view: MailView, sender: str, own: Iterable[str]) -> str | None:
    """Why this message gets no reply, or None. `own`: the user's addresses (the
    account, the address it came to, :addresses), compared case-insensitively."""
    mine = {address.lower() for address in own if address}
    if not sender:
        return "the return path is empty"
    local, _domain = split_address(sender.lower())
    if local in _ROBOT_LOCALS or local.startswith("owner-") or local.endswith("-request"):
        return f"the sender {sender} is a program"
    if sender.lower() in mine:
        return "the sender is the user"
    for auto in view.header_values("Auto-Submitted"):
        if auto.split(";")[0].strip().lower() != "no":
            return f"Auto-Submitted: {auto}"
    for precedence in view.header_values("Precedence"):
        if precedence.strip().lower() in ("bulk", "list", "junk"):
            return f"Precedence: {precedence}"
    for name in _LIST_HEADERS:
        if view.has_header(name):
            return f"it came from a list ({name})"
    fields = [value for name in _RECIPIENT_HEADERS for value in view.raw_header_values(name)]
    addressed = {address.lower() for address in view.addresses(fields)}
    if not addressed & mine:
        return "the user's address is in none of To, Cc, Bcc, Resent-To, Resent-Cc, Resent-Bcc"
    return None


def build_reply(
    view: MailView, vacation: Vacation, to: str, default_from: str, hostname: str
) -> bytes:
    """The reply (§5): Auto-Submitted: auto-replied, In-Reply-To and References
    pointing at the message, Subject "Auto: ..." unless :subject says otherwise."""
    subject = vacation.subject
    if not subject:
        original = (view.header_values("Subject") or [""])[0]
        subject = original if original.lower().startswith("auto:") else f"Auto: {original}"
    message_id = (view.raw_header_values("Message-ID") or [""])[0]
    references = " ".join([*view.raw_header_values("References")[:1], message_id]).strip()
    headers = [
        ("From", vacation.sender or default_from),
        ("To", to),
        ("Subject", _encode(subject)),
        ("Date", email.utils.formatdate(localtime=True)),
        ("Message-ID", email.utils.make_msgid(domain=hostname)),
        ("Auto-Submitted", "auto-replied (vacation)"),
    ]
    if message_id:
        headers += [("In-Reply-To", message_id), ("References", references)]
    headers.append(("MIME-Version", "1.0"))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    if vacation.mime:  # the reason is a MIME entity: its own headers, then its body
        entity = vacation.reason.replace("\r\n", "\n").replace("\n", "\r\n")
        return (head + entity).encode("utf-8")
    body = vacation.reason.replace("\r\n", "\n").replace("\n", "\r\n")
    if not body.endswith("\r\n"):
        body += "\r\n"
    head += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    return (head + "\r\n" + body).encode("utf-8")


def _encode(text: str) -> str:
    if text.isascii():
        return text.replace("\r", " ").replace("\n", " ")
    return email.header.Header(text, "utf-8").encode()
