"""The server's clock, when it tells it: a date in a greeting, or HTTP's Date header.

An expired or not-yet-valid certificate has two possible culprits: the
certificate, or this computer's clock. A server that shows its time settles
which (RFC 5322 §3.3 date-time in many SMTP greetings; RFC 9110 §6.6.1 Date).
"""

from __future__ import annotations

import datetime
import email.utils
import re
import statistics

from postfach.clientsetup.conn import LineConn, client_context

__all__ = ["find_date", "http_date", "server_offset"]

_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+"
    r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|UTC|UT|GMT|[A-Z]{3}))?",
    re.IGNORECASE,
)


def find_date(text: str) -> datetime.datetime | None:
    """The first RFC 5322 date-time in `text`, timezone-aware; None without one."""
    match = _DATE.search(text)
    if match is None:
        return None
    try:
        found = email.utils.parsedate_to_datetime(match.group(0))
    except (TypeError, ValueError, IndexError):
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=datetime.UTC)
    return found


def server_offset(
    samples: list[tuple[datetime.datetime, datetime.datetime]],
) -> datetime.timedelta | None:
    """The server's clock minus this one's: the median of (server said, we read it at)."""
    if not samples:
        return None
    seconds = statistics.median((server - here).total_seconds() for server, here in samples)
    return datetime.timedelta(seconds=seconds)


async def http_date(
    host: str, port: int, timeout: float, *, tls: bool = False
) -> datetime.datetime | None:
    """HEAD / on a web port and read its Date header; None on any failure."""
    try:
        conn = await LineConn.open(host, port, timeout)
    except (OSError, TimeoutError):
        return None
    try:
        if tls:
            await conn.start_tls(client_context(verify=False), None)
        await conn.send(f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n")
        for _ in range(100):
            line = await conn.read_line()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "date":
                return find_date(value)
    except Exception:  # any failure: the clock stays unknown
        return None
    finally:
        await conn.close()
    return None
