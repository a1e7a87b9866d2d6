"""Comparators (RFC 4790: i;octet, i;ascii-casemap, i;ascii-numeric), match
types (:is, :contains, :matches, RFC 5228 §2.7.1) and relational matches
(:count and :value, RFC 5231), with the match variables a :matches sets
(RFC 5229 §3.2)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Matcher", "glob", "numeric_key"]

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LEADING_DIGITS = re.compile(r"[0-9]+")
_RELATIONS = {
    "gt": lambda c: c > 0,
    "ge": lambda c: c >= 0,
    "lt": lambda c: c < 0,
    "le": lambda c: c <= 0,
    "eq": lambda c: c == 0,
    "ne": lambda c: c != 0,
}


def numeric_key(text: str) -> float:
    """i;ascii-numeric: the leading digits as a number; none is positive infinity."""
    found = _LEADING_DIGITS.match(text)
    return float("inf") if found is None else float(int(found.group()))


def _compare(comparator: str, left: str, right: str) -> int:
    if comparator == "i;ascii-numeric":
        x, y = numeric_key(left), numeric_key(right)
        return (x > y) - (x < y)
    if comparator != "i;octet":  # code point order is UTF-8 octet order
        left, right = left.translate(_ASCII_FOLD), right.translate(_ASCII_FOLD)
    return (left > right) - (left < right)


# A :matches pattern, parsed: the literal runs between its stars, each a
# sequence of characters and None for "?".
Segment = tuple[str | None, ...]


@functools.lru_cache(maxsize=256)
def _segments(pattern: str) -> tuple[Segment, ...]:
    """Split at each "*"; backslash quotes the next character (RFC 5228 §2.7.1)."""
    segments: list[Segment] = []
    current: list[str | None] = []
    escaped = False
    for char in pattern:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            segments.append(tuple(current))
            current = []
        else:
            current.append(None if char == "?" else char)
    segments.append(tuple(current))
    return tuple(segments)


def _fits(segment: Segment, value: str, at: int, fold: bool) -> bool:
    for offset, want in enumerate(segment):
        if want is None:
            continue
        have = value[at + offset]
        if have == want:
            continue
        if not fold or have.translate(_ASCII_FOLD) != want.translate(_ASCII_FOLD):
            return False
    return True


def glob(value: str, pattern: str, fold: bool) -> list[str] | None:
    """The match variables of `value` against a :matches pattern (${0} the value,
    then one per wildcard), or None. Each "*" takes as little as it can, as in
    RFC 5229's examples; segments are placed leftmost, so the time is bounded by
    len(value) * len(pattern) whatever the pattern (no backtracking)."""
    segments = _segments(pattern)
    first, last = segments[0], segments[-1]
    size = len(value)
    if len(segments) == 1:
        if len(first) != size or not _fits(first, value, 0, fold):
            return None
        return [value, *(value[i] for i, want in enumerate(first) if want is None)]
    tail = size - len(last)
    if len(first) > tail or not _fits(first, value, 0, fold) or not _fits(last, value, tail, fold):
        return None
    starts = [0]
    at = len(first)
    for segment in segments[1:-1]:
        found = next(
            (p for p in range(at, tail - len(segment) + 1) if _fits(segment, value, p, fold)), None
        )
        if found is None:
            return None
        starts.append(found)
        at = found + len(segment)
    starts.append(tail)
    captures = [value]
    for index, segment in enumerate(segments):
        start = starts[index]
        if index:
            previous_end = starts[index - 1] + len(segments[index - 1])
            captures.append(value[previous_end:start])
        captures.extend(value[start + i] for i, want in enumerate(segment) if want is None)
    return captures


@dataclass(frozen=True, slots=True)
class Matcher:
    """How one test compares: its match type, relational operator (for :count and
    :value) and comparator."""

    match_type: str = "is"
    relation: str = ""
    comparator: str = "i;ascii-casemap"

    def matches(self, values: Sequence[str], keys: Sequence[str]) -> tuple[bool, list[str] | None]:
        """Whether any value matches any key; for :matches, also the match variables
        of the first match (${0} the whole value, then each wildcard)."""
        if self.match_type == "count":
            count = str(len(values))
            return any(self.relate(count, key) for key in keys), None
        for value in values:
            for key in keys:
                if self.match_type == "matches":
                    found = self.glob(value, key)
                    if found is not None:
                        return True, found
                elif self.one(value, key):
                    return True, None
        return False, None

    def one(self, value: str, key: str) -> bool:
        if self.match_type == "value":
            return self.relate(value, key)
        if self.match_type == "contains":
            if self.comparator == "i;octet":
                return key in value
            return key.translate(_ASCII_FOLD) in value.translate(_ASCII_FOLD)
        if self.match_type == "matches":
            return self.glob(value, key) is not None
        return _compare(self.comparator, value, key) == 0

    def relate(self, value: str, key: str) -> bool:
        return bool(_RELATIONS[self.relation](_compare(self.comparator, value, key)))

    def glob(self, value: str, pattern: str) -> list[str] | None:
        return glob(value, pattern, self.comparator != "i;octet")
