"""IMAP value grammar shared by the parser and the responses.

Sequence sets (RFC 9051 §9 "sequence-set", with `*` and the SEARCHRES `$`),
modified UTF-7 mailbox names (RFC 3501 §5.1.3), quoting of strings on output
and the date / date-time forms. Pure functions, no I/O.
"""

from __future__ import annotations

import bisect
import calendar
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from postfach.mutf7 import decode_mutf7, encode_mutf7

__all__ = [
    "SeqSet",
    "astring",
    "compact_uids",
    "decode_mutf7",
    "encode_mutf7",
    "format_datetime",
    "nstring",
    "parse_date",
    "parse_datetime",
    "quoted",
]

# Largest value a sequence-set number may take (RFC 9051 "nz-number" fits in 32 bits).
MAX_NUMBER = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SeqSet:
    """A parsed sequence set; `None` in a range end stands for `*`.

    `saved` marks the SEARCHRES `$` (RFC 5182): the result of the last SEARCH
    with RETURN (SAVE), resolved by the session.
    """

    ranges: tuple[tuple[int | None, int | None], ...] = ()
    saved: bool = False

    def seq_indexes(self, count: int) -> list[int]:
        """0-based indexes of the messages the set names as sequence numbers."""
        picked: set[int] = set()
        for lo, hi in self.ranges:
            a = count if lo is None else lo
            b = count if hi is None else hi
            a, b = min(a, b), max(a, b)
            a, b = max(a, 1), min(b, count)
            if a <= b:
                picked.update(range(a - 1, b))
        return sorted(picked)

    def seq_in_range(self, count: int) -> bool:
        """False when a sequence number exceeds the mailbox (RFC 9051 §9: BAD)."""
        for lo, hi in self.ranges:
            if lo is None or hi is None:
                continue
            if lo > count or hi > count:
                return False
        return True

    def uid_indexes(self, uids: Sequence[int]) -> list[int]:
        """0-based indexes of the messages whose UID the set names (sorted `uids`)."""
        if not uids:
            return []
        largest = uids[-1]
        picked: set[int] = set()
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            a, b = min(a, b), max(a, b)
            start = bisect.bisect_left(uids, a)
            end = bisect.bisect_right(uids, b)
            if start == 0 and end == len(uids):
                return list(range(len(uids)))
            picked.update(range(start, end))
        return sorted(picked)

    def contains_uid(self, uid: int, largest: int) -> bool:
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            if min(a, b) <= uid <= max(a, b):
                return True
        return False

    def numbers(self, largest: int) -> list[int]:
        """Every number named, `*` standing for `largest` (for small sets only)."""
        out: set[int] = set()
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            out.update(range(min(a, b), max(a, b) + 1))
        return sorted(out)


def parse_seqset(text: str) -> SeqSet:
    """Parses `1:4,7,9:*`; raises ValueError on anything else."""
    if text == "$":
        return SeqSet(saved=True)
    ranges: list[tuple[int | None, int | None]] = []
    for part in text.split(","):
        lo_text, sep, hi_text = part.partition(":")
        lo = _seq_number(lo_text)
        hi = _seq_number(hi_text) if sep else lo
        ranges.append((lo, hi))
    return SeqSet(tuple(ranges))


def _seq_number(text: str) -> int | None:
    if text == "*":
        return None
    if not text.isdigit() or not text.isascii() or text.startswith("0"):
        raise ValueError(f"invalid sequence number {text!r}")
    value = int(text)
    if value > MAX_NUMBER:
        raise ValueError("sequence number too large")
    return value


def compact_uids(numbers: Iterable[int]) -> str:
    """`1,2,3,5` → `1:3,5`: the uid-set form of COPYUID and VANISHED."""
    parts: list[str] = []
    start = prev = -2
    for n in sorted(set(numbers)):
        if n == prev + 1:
            prev = n
            continue
        if start >= 0:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = n
    if start >= 0:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


# -- output quoting -----------------------------------------------------------

_ATOM_SAFE = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~\[]+")


def quoted(value: str | bytes, utf8: bool = True) -> bytes:
    """A quoted string, or a literal when the value cannot be quoted."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if b"\r" in raw or b"\n" in raw or b"\0" in raw or (not utf8 and not raw.isascii()):
        # a literal, but never with NUL in it (RFC 9051 §4.3): 0x80 stands in, as in FETCH
        return b"{%d}\r\n" % len(raw) + raw.replace(b"\0", b"\x80")
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def astring(value: str | bytes, utf8: bool = True) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if raw and _ATOM_SAFE.fullmatch(raw) and raw.upper() != b"NIL":
        return raw
    return quoted(raw, utf8)


def nstring(value: str | bytes | None, utf8: bool = True) -> bytes:
    if value is None:
        return b"NIL"
    return quoted(value, utf8)


# -- dates ------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_INDEX = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
_DATETIME = re.compile(
    r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")


def parse_datetime(text: str) -> float:
    """RFC 9051 "date-time" (`"17-Jul-1996 02:44:25 -0700"` without quotes) → Unix time."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError("invalid date-time")
    day, mon, year, hh, mm, ss, sign, zh, zm = match.groups()
    month = _MONTH_INDEX.get(mon.lower())
    if month is None:
        raise ValueError("invalid month")
    stamp = (int(year), month, int(day), int(hh), int(mm), int(ss))
    if not (1 <= stamp[2] <= 31 and stamp[3] < 24 and stamp[4] < 60 and stamp[5] < 61):
        raise ValueError("invalid date-time")
    offset = (int(zh) * 60 + int(zm)) * 60 * (-1 if sign == "-" else 1)
    try:
        return float(calendar.timegm((*stamp, 0, 0, 0)) - offset)
    except (ValueError, OverflowError) as exc:
        raise ValueError("invalid date-time") from exc


def parse_date(text: str) -> tuple[int, int, int]:
    """RFC 9051 "date" (`1-Feb-1994`) → (year, month, day)."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError("invalid date")
    month = _MONTH_INDEX.get(match.group(2).lower())
    day = int(match.group(1))
    if month is None or not 1 <= day <= 31:
        raise ValueError("invalid date")
    return int(match.group(3)), month, day


def format_datetime(stamp: float) -> str:
    """Unix time → `"17-Jul-1996 09:44:25 +0000"` contents (UTC)."""
    t = time.gmtime(stamp)
    clock = time.strftime("%H:%M:%S", t)
    return f"{t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} {clock} +0000"
