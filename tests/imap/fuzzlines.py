"""Arbitrary command lines for a live session: drawn by hypothesis, sent one by one.

A session must answer each with OK, NO or BAD and stay up (test_imap_fuzz.py,
test_imap_notify.py).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.imap.imapwire import Wire

__all__ = ["answer_each", "draw_lines"]


def draw_lines(strategy: st.SearchStrategy[str], examples: int = 60) -> list[str]:
    """Lines a client can send as one command: no CR or LF, no literal at the end."""
    drawn: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(strategy)
    def collect(line: str) -> None:
        if "\r" not in line and "\n" not in line and not re.search(r"\{\d+\+?\}$", line):
            drawn.append(line)

    collect()
    return drawn


async def answer_each(c: Wire, lines: list[str], prefix: str = "") -> bool:
    """Sends `prefix + line` for each line; every one must be answered OK, NO or BAD.
    False when a LOGOUT was answered OK (the session is over), else True."""
    for n, line in enumerate(lines):
        if n % 10 == 9:
            await c.cmd("NOOP")  # the 20th BAD in a row would end the session
        tag = c.next_tag()
        await c.send(f"{tag} {prefix}{line}\r\n".encode())
        try:
            _, status = await c.until_tagged(tag)
        except (TimeoutError, ConnectionError, EOFError) as exc:
            raise AssertionError(f"no answer to {prefix}{line!r}") from exc
        assert status.split(" ", 1)[0] in ("OK", "NO", "BAD"), (line, status)
        if status.startswith("OK") and f"{prefix}{line}".upper().startswith("LOGOUT"):
            return False
    return True
