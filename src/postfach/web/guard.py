"""uvicorn's HTTP/1.1 protocol behind postfach's connection limits and read timeouts.

uvicorn bounds neither connections per address nor the time a client takes to
send its request: 200 idle connections, or clients dribbling header bytes, kept
everybody else out. `guarded_protocol` returns uvicorn's h11 protocol with

- the listener's `net.Admission` at connection time (per address, per listener,
  the process's descriptors): the excess gets `503` and is closed;
- a header timeout: the whole header block of a request must arrive within
  `limits.http_header_timeout` seconds from its first byte (from the connect for
  the first request), else `408` and close: a total, not a per-byte, bound;
- a body timeout: a pause of `limits.http_body_timeout` seconds inside a body
  is answered `408` (unless a response has begun) and closes the connection. A
  pause is not counted while uvicorn has stopped reading because the
  application has not taken the body yet.

Between requests uvicorn's own keep-alive timeout applies.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from postfach.net.listeners import Admission, Refusal

__all__ = ["HttpGuard", "guarded_protocol"]

log = logging.getLogger(__name__)


def _response(status: str, text: str, extra: str = "") -> bytes:
    body = text.encode() + b"\n"
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode() + body


BUSY = _response("503 Service Unavailable", "Too many connections", "Retry-After: 10\r\n")
TOO_MANY_FROM_IP = _response(
    "503 Service Unavailable", "Too many connections from your address", "Retry-After: 10\r\n"
)
REQUEST_TIMEOUT = _response("408 Request Timeout", "Request timeout")


@dataclass(frozen=True, slots=True)
class HttpGuard:
    admission: Admission
    header_timeout: float
    body_timeout: float


class _Phase(enum.Enum):
    HEADERS = "waiting for a header block"
    BODY = "reading a request body"
    OTHER = "the application's turn, or idle between requests"


class _GuardedH11(H11Protocol):
    guard: ClassVar[HttpGuard]
    _ip: str | None = None
    _timer: asyncio.TimerHandle | None = None
    _phase = _Phase.OTHER

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        refusal = self.guard.admission.admit(ip)
        if refusal is not None:
            transport.write(BUSY if refusal is Refusal.BUSY else TOO_MANY_FROM_IP)
            transport.close()
            return
        self._ip = ip
        super().connection_made(transport)
        self._enter(_Phase.HEADERS, self.guard.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ip is None:  # refused in connection_made: uvicorn never saw it
            return
        self._cancel_timer()
        self.guard.admission.release(self._ip)
        self._ip = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if self._phase is not _Phase.HEADERS:  # the next request's first bytes
                self._enter(_Phase.HEADERS, self.guard.header_timeout)
        elif cycle.more_body:
            self._enter(_Phase.BODY, self.guard.body_timeout)  # progress: the pause restarts
        else:
            self._enter(_Phase.OTHER, 0)

    def _enter(self, phase: _Phase, timeout: float) -> None:
        self._cancel_timer()
        self._phase = phase
        if timeout > 0:
            self._timer = self.loop.call_later(timeout, self._expire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase is _Phase.BODY and not self.transport.is_reading():
            self._enter(_Phase.BODY, self.guard.body_timeout)  # the application is behind
            return
        log.info("http: %s too slow (%s); closing", self._ip, self._phase.value)
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started and not cycle.response_complete
        if not answered:  # a response under way is not cut into
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def guarded_protocol(guard: HttpGuard) -> type[H11Protocol]:
    """uvicorn's h11 protocol class bound to one listener's guard."""
    return type("GuardedH11Protocol", (_GuardedH11,), {"guard": guard})
