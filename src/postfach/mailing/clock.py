"""Time for the scheduler, injectable so tests can jump hours without sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float: ...
    async def sleep_until(self, when: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


class ManualClock:
    """Virtual time: waiting moves the clock forward at once and is recorded."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.waits: list[tuple[float, float]] = []  # (from, until)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep_until(self, when: float) -> None:
        if when > self.t:
            self.waits.append((self.t, when))
            self.t = when
        await asyncio.sleep(0)
