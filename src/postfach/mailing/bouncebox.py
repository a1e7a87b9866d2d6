"""Reading a bounce mailbox over IMAP and acting on its reports (R25).

The IMAP side runs imaplib in a worker thread (`asyncio.to_thread`): log in
(plain, implicit TLS or STARTTLS), SELECT the folder, fetch the messages not yet
skipped, and afterwards MOVE the handled ones to the done folder (RFC 6851; or
COPY, \\Deleted and EXPUNGE where MOVE is missing). Messages that are no report,
or name no campaign recipient, stay and get the keyword `$PostfachSkipped` so
the next check does not read them again.

Acting on a report: a hard bounce marks the contact (on every list) bounced,
and its campaign recipient `bounced` with the report's diagnostic; a soft one
adds to the contact's soft-bounce count. A plain mail to a VERP address with
"unsubscribe" in the subject (the List-Unsubscribe mailto) unsubscribes.
"""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from dataclasses import dataclass, field

from postfach.mailing.bounces import Bounce, Report, read_report
from postfach.store.mailing import BounceBox, MailingStore, RecipientRow

__all__ = ["BoxResult", "MailboxError", "check_box", "handle_report"]

SKIP_KEYWORD = "$PostfachSkipped"
BATCH = 500


class MailboxError(Exception):
    """The bounce mailbox could not be read; the text says why in plain words."""


@dataclass(slots=True)
class BoxResult:
    read: int = 0
    hard: list[str] = field(default_factory=list)  # addresses marked bounced
    soft: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    skipped: int = 0

    def summary(self) -> str:
        return (
            f"{self.read} read, {len(self.hard)} hard bounce(s), {len(self.soft)} soft, "
            f"{len(self.unsubscribed)} unsubscribe(s), {self.skipped} left in place"
        )


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _context(box: BounceBox) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not box.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ImapSession:
    """Blocking; every method runs in a worker thread."""

    def __init__(self, box: BounceBox, password: str) -> None:
        self.box = box
        self.password = password
        self.imap: imaplib.IMAP4 | None = None

    def open(self) -> None:
        box = self.box
        try:
            if box.security == "tls":
                self.imap = imaplib.IMAP4_SSL(
                    box.host, box.port, ssl_context=_context(box), timeout=60
                )
            else:
                self.imap = imaplib.IMAP4(box.host, box.port, timeout=60)
                if box.security == "starttls":
                    self.imap.starttls(_context(box))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"could not connect to {box.host}:{box.port}: {exc}") from None
        try:
            self.imap.login(box.login, self.password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"{box.host} refused the login for {box.login}: {exc}") from None
        status, data = self.imap.select(_quote(box.folder))
        if status != "OK":
            raise MailboxError(f"cannot open folder {box.folder}: {data}")

    def fetch(self) -> list[tuple[str, bytes]]:
        """(uid, raw) of the messages not skipped before, at most BATCH."""
        assert self.imap is not None
        status, data = self.imap.uid("SEARCH", "UNKEYWORD", SKIP_KEYWORD)
        if status != "OK":
            status, data = self.imap.uid("SEARCH", "ALL")
        uids = [u.decode("ascii") for u in (data[0] or b"").split()[:BATCH]]
        out = []
        for uid in uids:
            status, parts = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if status == "OK" and raw is not None:
                out.append((uid, bytes(raw)))
        return out

    def finish(self, handled: list[str], skipped: list[str]) -> None:
        assert self.imap is not None
        imap = self.imap
        if skipped:
            imap.uid("STORE", ",".join(skipped), "+FLAGS", f"({SKIP_KEYWORD})")
        if handled:
            target = _quote(self.box.done_folder)
            imap.create(target)  # fails harmlessly when it exists
            uid_set = ",".join(handled)
            if "MOVE" in imap.capabilities:
                status, _ = imap.uid("MOVE", uid_set, target)
                if status == "OK":
                    return
            status, data = imap.uid("COPY", uid_set, target)
            if status != "OK":
                raise MailboxError(f"cannot move reports to {self.box.done_folder}: {data}")
            imap.uid("STORE", uid_set, "+FLAGS", "(\\Deleted)")
            imap.expunge()

    def close(self) -> None:
        if self.imap is not None:
            try:
                self.imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass


async def check_box(mailing: MailingStore, box: BounceBox, password: str, now: float) -> BoxResult:
    """Reads one bounce mailbox once; raises MailboxError."""
    session = ImapSession(box, password)
    result = BoxResult()
    try:
        await asyncio.to_thread(session.open)
        messages = await asyncio.to_thread(session.fetch)
        handled: list[str] = []
        skipped: list[str] = []
        for uid, raw in messages:
            result.read += 1
            if await handle_report(mailing, read_report(raw), now, result):
                handled.append(uid)
            else:
                skipped.append(uid)
                result.skipped += 1
        await asyncio.to_thread(session.finish, handled, skipped)
    finally:
        await asyncio.to_thread(session.close)
    return result


async def handle_report(
    mailing: MailingStore, report: Report, now: float, result: BoxResult
) -> bool:
    """Applies one report; True when it was about a campaign message."""
    rows = [r for r in [await mailing.by_token(t) for t in report.tokens] if r is not None]
    if not report.is_report:
        return await _maybe_unsubscribe(mailing, report, rows, result)
    acted = False
    for bounce in report.bounces:
        row = _match(bounce, rows, len(report.bounces))
        if row is None:
            row = await mailing.latest_for_email(bounce.address)
        if row is None:
            continue
        reply = bounce.diagnostic or f"bounced ({bounce.status or 'no status'})"
        await mailing.mark_bounce(row, row.email, bounce.hard, reply, now)
        (result.hard if bounce.hard else result.soft).append(row.email)
        acted = True
    return acted


def _match(bounce: Bounce, rows: list[RecipientRow], reported: int) -> RecipientRow | None:
    for row in rows:
        if row.email.lower() == bounce.address.lower():
            return row
    # Forwarded on: the report names the final address, the token our recipient.
    if len(rows) == 1 and reported == 1:
        return rows[0]
    return None


async def _maybe_unsubscribe(
    mailing: MailingStore, report: Report, rows: list[RecipientRow], result: BoxResult
) -> bool:
    if "unsubscribe" not in report.subject.lower() or not report.header_tokens:
        return False
    row = await mailing.by_token(report.header_tokens[0])
    if row is None or not await mailing.unsubscribe(row.token):
        return False
    result.unsubscribed.append(row.email)
    return True
