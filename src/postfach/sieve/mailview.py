"""The message as Sieve tests see it (RFC 5228 §5; body RFC 5173; date RFC 5260):
decoded header values, the addresses in address headers, body parts, dates."""

from __future__ import annotations

import datetime
import email.header
import email.message
import email.parser
import email.policy
import email.utils
from dataclasses import dataclass

__all__ = ["Envelope", "MailView", "RunContext", "date_part", "split_address"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP's envelope: MAIL FROM ("" for the null path) and the RCPT TO that led
    to this account."""

    sender: str
    recipient: str


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a run knows besides the message: the envelope, the account's folders
    (for mailboxexists) and the time (currentdate; aware, in the local zone)."""

    envelope: Envelope
    mailboxes: frozenset[str] = frozenset({"INBOX"})
    now: datetime.datetime | None = None


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    return (local, domain) if at else (address, "")


class MailView:
    """One message, parsed once; the tests ask it for what they compare."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        parser = email.parser.BytesParser(policy=email.policy.compat32)
        self.message: email.message.Message = parser.parsebytes(raw)
        self._texts: list[tuple[str, str]] | None = None

    def header_values(self, name: str) -> list[str]:
        """Each field of that name, unfolded and decoded (RFC 2047), top first."""
        return [_decode(value) for value in self.message.get_all(name, [])]

    def raw_header_values(self, name: str) -> list[str]:
        return [_unfold(str(value)) for value in self.message.get_all(name, [])]

    def has_header(self, name: str) -> bool:
        return name in self.message

    def addresses(self, values: list[str]) -> list[str]:
        """The addr-specs in address header values (groups opened, names dropped)."""
        found = email.utils.getaddresses(values)
        return [address for _name, address in found if address]

    def body_values(self, transform: str, types: tuple[str, ...]) -> list[str]:
        """RFC 5173: the undecoded body (:raw), the parts of the given content types
        (:content), or the text of the text/* parts (:text, the default)."""
        if transform == "raw":
            _head, _sep, body = self.raw.partition(b"\r\n\r\n")
            if not _sep:
                _head, _sep, body = self.raw.partition(b"\n\n")
            return [body.decode("utf-8", "replace")]
        wanted = types if transform == "content" else ("text",)
        return [text for kind, text in self._parts() if _type_matches(kind, wanted)]

    def _parts(self) -> list[tuple[str, str]]:
        if self._texts is None:
            self._texts = []
            for part in self.message.walk():
                kind = part.get_content_type().lower()
                if part.is_multipart():
                    self._texts.append((kind, str(part.preamble or "")))
                    continue
                self._texts.append((kind, _part_text(part)))
        return self._texts


def _type_matches(kind: str, wanted: tuple[str, ...]) -> bool:
    for want in wanted:
        want = want.lower()
        if not want or want == kind or ("/" not in want and kind.split("/")[0] == want):
            return True
    return False


def _part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _unfold(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "").strip()


def _decode(value: object) -> str:
    text = _unfold(str(value))
    if "=?" not in text:
        return text
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


_WEEKDAY = {0: "1", 1: "2", 2: "3", 3: "4", 4: "5", 5: "6", 6: "0"}  # Sunday is 0
_MJD_EPOCH = datetime.date(1858, 11, 17)


def date_part(moment: datetime.datetime, part: str) -> str | None:
    """One date-part of RFC 5260 §4.2 of an aware datetime; None for an unknown part."""
    offset = moment.utcoffset() or datetime.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    part = part.lower()
    if part == "year":
        return f"{moment.year:04d}"
    if part == "month":
        return f"{moment.month:02d}"
    if part == "day":
        return f"{moment.day:02d}"
    if part == "date":
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if part == "julian":
        return str((moment.date() - _MJD_EPOCH).days)
    if part == "hour":
        return f"{moment.hour:02d}"
    if part == "minute":
        return f"{moment.minute:02d}"
    if part == "second":
        return f"{moment.second:02d}"
    if part == "time":
        return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if part == "iso8601":
        return moment.replace(microsecond=0).isoformat()
    if part == "std11":
        return email.utils.format_datetime(moment.replace(microsecond=0))
    if part == "zone":
        return zone
    if part == "weekday":
        return _WEEKDAY[moment.weekday()]
    return None
