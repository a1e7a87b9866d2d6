"""The failed-login throttle: who is refused without a password check, and why.

Three counts, each a sliding window of failure times with a lockout after it:

- per user *and* address (`max_failures`): a device with a stale password, or
  an attacker guessing one user's password, is held; the same user from any
  other address is not;
- per address (`address_max_failures`): one address trying many users;
- per user across all addresses (`user_max_failures`, set high): a ceiling on
  guessing spread over many addresses. It does not hold an address that
  logged in as that user within `known_address_ttl` seconds, so strangers
  cannot shut a user out of the devices that already work.

A throttled attempt is refused before any check and is not counted, so a lockout
ends `lockout` seconds after the last real failure. With `serve --workers N` the
counts live in the runtime file (store/runtime.py) so that every worker sees one
count; otherwise in this process. Both sit behind `FailureBook`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from postfach.config import AuthConfig
from postfach.store.runtime import RuntimeState

__all__ = ["FailureBook", "Held", "Limit", "MemoryBook", "RuntimeBook", "Throttle"]

_MAX_KEYS = 100_000  # the in-process book prunes itself beyond this many keys


class Held(enum.Enum):
    """Which count refused a login: the `reason=` of the log line."""

    USER_AT_ADDRESS = "user-address"
    ADDRESS = "address"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Limit:
    failures: int
    window: float
    lockout: float

    @property
    def horizon(self) -> float:
        """How far back a failure can still matter."""
        return max(self.window, self.lockout)

    def reached(self, times: Sequence[float], now: float) -> bool:
        """Too many failures in the window, or the lockout after them still running;
        `times` are the newest (at most `failures`) within the horizon, oldest first."""
        if len(times) < self.failures:
            return False
        return times[-self.failures] >= now - self.window or times[-1] >= now - self.lockout


class FailureBook(Protocol):
    """Where failure times and known addresses are kept."""

    def failures(self, key: str, since: float) -> Sequence[float]: ...

    def add_failure(self, key: str, at: float, keep: int, forget_before: float) -> None: ...

    def clear(self, key: str) -> None: ...

    def remember(self, user: str, ip: str, at: float) -> None: ...

    def known(self, user: str, ip: str, since: float) -> bool: ...


class MemoryBook:
    """One process's book (a single `serve` process, or the tests)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._known: dict[tuple[str, str], float] = {}

    def failures(self, key: str, since: float) -> Sequence[float]:
        times = self._failures.get(key)
        if times is None:
            return ()
        while times and times[0] < since:
            times.popleft()
        if not times:
            del self._failures[key]
        return tuple(times)

    def add_failure(self, key: str, at: float, keep: int, forget_before: float) -> None:
        if len(self._failures) >= _MAX_KEYS:
            self._failures = {k: t for k, t in self._failures.items() if t[-1] >= forget_before}
        times = self._failures.get(key)
        if times is None or times.maxlen != keep:
            times = self._failures[key] = deque(times or (), maxlen=keep)
        times.append(at)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def remember(self, user: str, ip: str, at: float) -> None:
        if len(self._known) >= _MAX_KEYS:
            newest = sorted(self._known.items(), key=lambda item: item[1])[_MAX_KEYS // 2 :]
            self._known = dict(newest)
        self._known[(user, ip)] = at

    def known(self, user: str, ip: str, since: float) -> bool:
        at = self._known.get((user, ip))
        return at is not None and at >= since


class RuntimeBook:
    """The book of `serve --workers N`: an attacker must not get a fresh allowance
    in every worker process."""

    def __init__(self, runtime: RuntimeState) -> None:
        self._runtime = runtime

    def failures(self, key: str, since: float) -> Sequence[float]:
        return self._runtime.auth_failures(key, since)

    def add_failure(self, key: str, at: float, keep: int, forget_before: float) -> None:
        self._runtime.auth_fail(key, at, keep=keep, forget_before=forget_before)

    def clear(self, key: str) -> None:
        self._runtime.auth_clear(key)

    def remember(self, user: str, ip: str, at: float) -> None:
        self._runtime.auth_remember(user, ip, at)

    def known(self, user: str, ip: str, since: float) -> bool:
        return self._runtime.auth_known(user, ip, since)


class Throttle:
    """The three counts of one server (see the module docstring)."""

    def __init__(self, config: AuthConfig, clock: Callable[[], float], book: FailureBook) -> None:
        window, lockout = config.failure_window, config.lockout
        self._pair = Limit(max(1, config.max_failures), window, lockout)
        self._address = Limit(max(1, config.address_max_failures), window, lockout)
        self._user = Limit(max(1, config.user_max_failures), window, lockout)
        self._known_for = config.known_address_ttl
        self._clock = clock
        self._book = book

    def refusal(self, user: str, ip: str) -> Held | None:
        """Why a login of `user` from `ip` is refused unchecked; None: check it."""
        now = self._clock()
        if self._reached(_address_key(ip), self._address, now):
            return Held.ADDRESS
        if self._reached(_pair_key(user, ip), self._pair, now):
            return Held.USER_AT_ADDRESS
        if self._reached(_user_key(user), self._user, now) and not self._book.known(
            user, ip, now - self._known_for
        ):
            return Held.USER
        return None

    def failed(self, user: str, ip: str) -> None:
        now = self._clock()
        for key, limit in (
            (_address_key(ip), self._address),
            (_pair_key(user, ip), self._pair),
            (_user_key(user), self._user),
        ):
            self._book.add_failure(key, now, keep=limit.failures, forget_before=now - limit.horizon)

    def succeeded(self, user: str, ip: str) -> None:
        """The device at `ip` works: its own count starts over, and it is known from
        now on. The user's ceiling stays: it is what holds the other addresses."""
        self._book.clear(_pair_key(user, ip))
        if self._known_for > 0:
            self._book.remember(user, ip, self._clock())

    def _reached(self, key: str, limit: Limit, now: float) -> bool:
        return limit.reached(self._book.failures(key, now - limit.horizon), now)


def _address_key(ip: str) -> str:
    return f"ip:{ip}"


def _pair_key(user: str, ip: str) -> str:
    return f"user-ip:{user}\x00{ip}"


def _user_key(user: str) -> str:
    return f"user:{user}"
