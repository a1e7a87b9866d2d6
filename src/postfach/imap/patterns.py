"""Mailbox patterns of LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8-9), in linear time.

`*` matches any run of characters, `%` any run without the hierarchy
separator; "INBOX" at the start of a pattern matches case-insensitively
(RFC 9051 §5.1). A pattern runs as a position automaton (shift-and): bit `i`
of an int is set while pattern[:i] matches what has been read of the name.
Each name character updates every live position at once with a few integer
operations, so nothing ever backtracks: the work is O(len(pattern)·len(name))
for any pattern. The regex this replaces backtracked on `*%*%*%*%*%*%*%x`
(seconds per extra `*%`, minutes for fifty).

`match_steps` returns the work done as well, counted as the positions each
character's update spans (`bit_length` of the live set, at most
len(pattern) + 1): what a hostile pattern can cost, which the tests bound.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MailboxPattern", "compile_pattern", "match_steps", "matches"]

_INBOX = "INBOX"


@dataclass(frozen=True, slots=True)
class MailboxPattern:
    """A compiled pattern: one bit per position of the wildcard-collapsed pattern."""

    text: str  # runs of wildcards collapsed: "*%" and "%*" are "*", "%%" is "%"
    separator: str
    inbox: bool  # the pattern starts with INBOX in any case
    literal_count: int  # characters a matching name must have at least
    masks: dict[str, int]  # character -> positions holding that character
    star: int  # positions holding "*"
    percent: int  # positions holding "%"
    accept: int  # the bit of the position after the last

    @property
    def wild(self) -> int:
        return self.star | self.percent


def _collapse(pattern: str) -> str:
    """A run of wildcards matches what its widest member matches; one stays."""
    out: list[str] = []
    for ch in pattern:
        if ch in "*%" and out and out[-1] in "*%":
            if ch == "*":
                out[-1] = "*"
            continue
        out.append(ch)
    return "".join(out)


def _starts_with_inbox(text: str) -> bool:
    head = text[: len(_INBOX)]
    return head.isascii() and head.upper() == _INBOX


def compile_pattern(pattern: str, separator: str = "/") -> MailboxPattern:
    inbox = _starts_with_inbox(pattern)
    text = _collapse(_INBOX + pattern[len(_INBOX) :] if inbox else pattern)
    masks: dict[str, int] = {}
    star = percent = 0
    for i, ch in enumerate(text):
        if ch == "*":
            star |= 1 << i
        elif ch == "%":
            percent |= 1 << i
        else:
            masks[ch] = masks.get(ch, 0) | 1 << i
    literal_count = len(text) - (star | percent).bit_count()
    return MailboxPattern(
        text, separator, inbox, literal_count, masks, star, percent, 1 << len(text)
    )


def _closure(live: int, wild: int) -> int:
    # A wildcard may match nothing: its position passes on to the next. Wildcards
    # never follow each other after _collapse, so one pass is the whole closure.
    return live | (live & wild) << 1


def match_steps(p: MailboxPattern, name: str) -> tuple[bool, int]:
    """(does `name` match, steps spent); steps <= 2 * (len(name) + 1) * (len(pattern) + 1)."""
    if p.text == "*":
        return True, 1  # LIST "" "*", the common case
    if p.literal_count > len(name):
        return False, 1
    if p.inbox and _starts_with_inbox(name):
        name = _INBOX + name[len(_INBOX) :]
    wild, star, percent, masks, separator = p.wild, p.star, p.percent, p.masks, p.separator
    live = _closure(1, wild)
    steps = 1
    for ch in name:
        steps += 1 + live.bit_length()
        stay = live & star if ch == separator else live & (star | percent)
        live = _closure((live & masks.get(ch, 0)) << 1 | stay, wild)
        if not live:
            return False, steps
    return bool(live & p.accept), steps


def matches(p: MailboxPattern, name: str) -> bool:
    return match_steps(p, name)[0]
