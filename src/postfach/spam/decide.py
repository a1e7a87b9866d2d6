"""What a score means for one account, and the headers that tell it. Pure.

The scorer says how suspicious a message is; the thresholds (the server's, or
the account's own) and the account's sender lists say what follows: deliver,
file in Spam, or refuse. An allowed sender is never filed nor refused by score;
a blocked one is always filed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from postfach.spam.verdict import SpamVerdict
from postfach.store.spam_records import SpamSettings

__all__ = [
    "Action",
    "Thresholds",
    "decide",
    "listed",
    "sender_entry",
    "spam_headers",
    "without_spam_headers",
]

# Headers only this server may write: a stranger's own "X-Spam-Status: No" goes.
_OURS = (b"x-spam-status:", b"x-spam-score:", b"x-spam-flag:")
_FOLD_AT = 76
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|xn--[a-z0-9-]+")
_LOCAL = re.compile(r"[^\s@<>\"(),;:]{1,64}")


class Action(enum.Enum):
    DELIVER = "deliver"
    FILE = "file"  # into the account's Spam folder (special-use \Junk)
    REJECT = "reject"


class Thresholds:
    """The server's thresholds, with an account's own taking their place."""

    def __init__(self, file: float, reject: float) -> None:
        self.file = file
        self.reject = reject

    def of(self, settings: SpamSettings) -> Thresholds:
        return Thresholds(
            self.file if settings.file_threshold is None else settings.file_threshold,
            self.reject if settings.reject_threshold is None else settings.reject_threshold,
        )


def sender_entry(text: str) -> str:
    """An allow/block list entry as kept: `bob@example.net` or `example.net`,
    lower-case; anything else raises ValueError with a message for the user."""
    entry = text.strip().lower().removeprefix("@")
    local, at, domain = entry.rpartition("@")
    labels = domain.split(".")
    good_domain = len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)
    if not good_domain or len(entry) > 320 or (at and not _LOCAL.fullmatch(local)):
        raise ValueError(f"{text!r}: expected an address (bob@example.net) or a domain")
    return entry


def listed(entries: frozenset[str], senders: Iterable[str]) -> bool:
    """An address matches itself; a domain matches its addresses and subdomains'."""
    if not entries:
        return False
    for sender in senders:
        address = sender.strip().lower()
        if not address:
            continue
        if address in entries:
            return True
        domain = address.rpartition("@")[2]
        labels = domain.split(".")
        if any(".".join(labels[i:]) in entries for i in range(len(labels))):
            return True
    return False


def decide(
    verdict: SpamVerdict, settings: SpamSettings, server: Thresholds, senders: Iterable[str]
) -> Action:
    who = list(senders)
    if listed(settings.allow, who):
        return Action.DELIVER
    if listed(settings.block, who):
        return Action.FILE
    if not verdict.scanned:
        return Action.DELIVER  # the scorer could not look: never lose or refuse for that
    limits = server.of(settings)
    if verdict.score >= limits.reject:
        return Action.REJECT
    if verdict.score >= limits.file:
        return Action.FILE
    return Action.DELIVER


def spam_headers(verdict: SpamVerdict, required: float) -> bytes:
    """X-Spam-Score and X-Spam-Status as SpamAssassin writes them, folded."""
    if not verdict.scanned:
        return b"X-Spam-Status: unscanned\r\n"
    flag = "Yes" if verdict.score >= required else "No"
    status = f"X-Spam-Status: {flag}, score={verdict.score:.1f} required={required:.1f}"
    tests = ",".join(verdict.symbols) or "none"
    lines = [status + " tests="]
    for part in _chunks(tests):
        if len(lines[-1]) + len(part) > _FOLD_AT and not lines[-1].endswith("tests="):
            lines.append("\t")
        lines[-1] += part
    text = f"X-Spam-Score: {verdict.score:.1f}\r\n" + "\r\n".join(lines) + "\r\n"
    return text.encode("ascii", "replace")


def _chunks(tests: str) -> list[str]:
    """`A(1.0),B(2.0)` -> ["A(1.0),", "B(2.0)"]: folding happens after commas."""
    parts = tests.split(",")
    return [p + "," for p in parts[:-1]] + parts[-1:]


def without_spam_headers(raw: bytes) -> bytes:
    """The message less any X-Spam-Status/-Score/-Flag it arrived with."""
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 2], raw[end + 2 :])
    if not any(name in head.lower() for name in _OURS):
        return raw
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(_OURS)
        if not dropping:
            kept.append(line)
    return b"".join(kept) + body
