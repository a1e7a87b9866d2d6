"""Sharing the event loop during long CPU work in one session.

A worker serves every connection from one event loop, so a command that
computes for seconds (LIST over many names, SEARCH, SORT or THREAD over a big
mailbox) would stall every greeting and reply of the worker meanwhile. Such
loops charge their work to a `Budget`, which lets the loop turn whenever the
work since its last turn passes a limit; pure computations too large to split
run in a thread (`run_off_loop`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Budget", "run_off_loop"]

T = TypeVar("T")


class Budget:
    """Work units since the loop last turned; `charge` yields once they reach `limit`."""

    __slots__ = ("limit", "spent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    async def charge(self, units: int = 1) -> None:
        self.spent += units
        if self.spent >= self.limit:
            self.spent = 0
            await asyncio.sleep(0)


async def run_off_loop(size: int, threshold: int, func: Callable[..., T], *args: object) -> T:
    """`func(*args)` in a thread when `size` reaches `threshold`, else inline.

    A thread costs ~50 µs to hand over; small inputs are cheaper computed at once.
    """
    if size >= threshold:
        return await asyncio.to_thread(func, *args)
    return func(*args)
