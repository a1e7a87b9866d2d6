"""The order in which the doctor's probes log in, and what they learn from each other.

The probes of one run (clientsetup/doctor.py) talk to their servers at the same
time, but log in one after another, the most telling protocol first, and once a
server refused the password itself the others do not send it again: one run
with a wrong password is one failed login on the server, not one per protocol.
"""

from __future__ import annotations

import asyncio

from postfach.clientsetup.dialogs import Verdict

__all__ = ["LoginTurns"]

# The most telling reply first: IMAP and SMTP tell a wrong password from a switched-off
# protocol, POP3 cannot (so it goes last, when the others had their say).
_LOGIN_ORDER = {"IMAP": 0, "SMTP": 1, "POP3": 2}
# Replies about the password itself: the same password would fail everywhere.
_PASSWORD_REFUSED = frozenset(
    {Verdict.BAD_CREDENTIALS, Verdict.THROTTLED, Verdict.APP_PASSWORD, Verdict.WEB_SIGN_IN}
)


class LoginTurns:
    """The probes of one run log in one after another, and stop sending a password
    a server refused."""

    def __init__(self) -> None:
        self._done: list[tuple[tuple[int, int], asyncio.Event]] = []
        self.refused: tuple[str, Verdict] | None = None  # protocol, verdict

    def join(self, protocol: str) -> tuple[tuple[int, int], asyncio.Event]:
        """A place in the order; set the event when the login is over (or never comes)."""
        place = (_LOGIN_ORDER.get(protocol, len(_LOGIN_ORDER)), len(self._done))
        entry = (place, asyncio.Event())
        self._done.append(entry)
        return entry

    async def wait(self, place: tuple[int, int]) -> None:
        for other, done in self._done:
            if other < place:
                await done.wait()

    def record(self, protocol: str, verdict: Verdict) -> None:
        if verdict in _PASSWORD_REFUSED and self.refused is None:
            self.refused = (protocol, verdict)
