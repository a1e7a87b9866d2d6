"""rspamd as the scorer, over its HTTP protocol (rspamd.com/doc/developers/protocol.html).

`check` posts the message to the scanner's `/checkv2` with the envelope in
request headers (IP, Helo, From, one Rcpt per recipient, User when the sender
logged in) and reads the JSON answer: `score` and the `symbols` that fired.
`learn` posts to the controller's `/learnspam` or `/learnham` (the `Password`
header when one is set); "already learned" (208) counts as learnt.

rspamd being down, slow or confused never costs a message: the verdict is then
`SpamVerdict(0.0, (), scanned=False)` (acceptance marks the mail "unscanned"),
and the trouble is logged at most once a minute, not once per message.

httpx (already used by the tests) is the client: a pooled, keep-alive
connection per process, timeouts on every phase, chunked answers handled.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from postfach.config import SpamConfig
from postfach.spam.verdict import ScanFacts, SpamVerdict

__all__ = ["RspamdScorer", "controller_url"]

log = logging.getLogger(__name__)
# httpx logs every request at INFO: a line per scanned message in the mail log.
logging.getLogger("httpx").setLevel(logging.WARNING)

UNSCANNED = SpamVerdict(0.0, (), scanned=False)
LOG_INTERVAL = 60.0  # seconds between two reports of the same trouble
CONTROLLER_PORT = 11334
_ALREADY_LEARNED = 208  # rspamd's answer when the message was learnt before


def controller_url(scanner: str) -> str:
    """rspamd's controller listens beside the scanner, on port 11334 by default."""
    parts = urlsplit(scanner)
    host = parts.hostname or "127.0.0.1"
    netloc = f"[{host}]:{CONTROLLER_PORT}" if ":" in host else f"{host}:{CONTROLLER_PORT}"
    return urlunsplit((parts.scheme or "http", netloc, "", "", ""))


class _Throttled:
    """Logs a warning at most once per LOG_INTERVAL."""

    def __init__(self) -> None:
        self._last = -LOG_INTERVAL

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last >= LOG_INTERVAL:
            self._last = now
            log.warning(message, *args)


class RspamdScorer:
    """A `Scorer` (spam/verdict.py) asking rspamd."""

    def __init__(
        self,
        url: str,
        *,
        controller: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.controller = (controller or controller_url(url)).rstrip("/")
        self._password = password
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._check_trouble = _Throttled()
        self._learn_trouble = _Throttled()

    @classmethod
    def from_config(cls, config: SpamConfig) -> RspamdScorer | None:
        """The scorer `[spam] rspamd` asks for, or None when it is not set."""
        if not config.rspamd:
            return None
        return cls(
            config.rspamd,
            controller=config.rspamd_controller,
            password=config.rspamd_password,
            timeout=config.rspamd_timeout,
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self, raw: bytes, facts: ScanFacts) -> SpamVerdict:
        try:
            response = await self._http().post(
                f"{self.url}/checkv2", content=raw, headers=_envelope(facts)
            )
            if response.status_code != 200:
                self._check_trouble.warn(
                    "rspamd at %s answered %s: mail accepted unscanned",
                    self.url, response.status_code,
                )  # fmt: skip
                return UNSCANNED
            return _verdict(response.json())
        except (httpx.HTTPError, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self._check_trouble.warn(
                "rspamd at %s unavailable (%s): mail accepted unscanned",
                self.url, type(exc).__name__,
            )  # fmt: skip
            return UNSCANNED

    async def learn(self, account_id: int, raw: bytes, *, spam: bool) -> None:
        await self.learned(raw, spam=spam)

    async def learned(self, raw: bytes, *, spam: bool) -> bool:
        """Trains rspamd's Bayes; True when rspamd took the lesson (or had it already).
        rspamd's statistics are the server's, not per account."""
        path = "learnspam" if spam else "learnham"
        headers = {"Password": self._password} if self._password else {}
        try:
            response = await self._http().post(
                f"{self.controller}/{path}", content=raw, headers=headers
            )
        except (httpx.HTTPError, OSError) as exc:
            self._learn_trouble.warn(
                "rspamd controller at %s unavailable (%s): not learnt",
                self.controller, type(exc).__name__,
            )  # fmt: skip
            return False
        if response.status_code in (200, _ALREADY_LEARNED):
            return True
        self._learn_trouble.warn(
            "rspamd controller at %s refused /%s: %s %s",
            self.controller, path, response.status_code, response.reason_phrase,
        )  # fmt: skip
        return False


def _envelope(facts: ScanFacts) -> list[tuple[bytes, bytes]]:
    """The request headers rspamd reads the envelope from; one Rcpt per recipient."""
    headers = [
        (b"IP", _value(facts.ip)),
        (b"Helo", _value(facts.helo)),
        (b"From", _value(facts.sender)),
    ]
    headers += [(b"Rcpt", _value(r)) for r in facts.recipients]
    if facts.authenticated:
        headers.append((b"User", _value(facts.sender or "authenticated")))
    return [(name, value) for name, value in headers if value]


def _value(text: str) -> bytes:
    """A header value: UTF-8 (SMTPUTF8 addresses), no line breaks or NULs."""
    return text.translate({0: None, 10: None, 13: None}).encode("utf-8")


def _verdict(answer: Any) -> SpamVerdict:
    """The score and "NAME(points)" per symbol of a /checkv2 answer."""
    score = float(answer["score"])
    symbols = answer.get("symbols") or {}
    fired = tuple(
        f"{name}({float(symbol.get('score', 0.0)):g})" for name, symbol in sorted(symbols.items())
    )
    return SpamVerdict(score, fired)
