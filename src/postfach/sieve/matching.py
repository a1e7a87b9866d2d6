"""Comparators (RFC 4790: i;octet, i;ascii-casemap, i;ascii-numeric), match
types (:is, :contains, :matches, RFC 5228 §2.7.1) and relational matches
(:count and :value, RFC 5231), with the match variables a :matches sets
(RFC 5229 §3.2)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Matcher", "numeric_key"]

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


@functools.lru_cache(maxsize=256)
def _glob(pattern: str, fold: bool) -> re.Pattern[str]:
    """A :matches pattern as a regex: each ? and * one group, * as short as can be
    (RFC 5229's "[*] *" example); backslash quotes the next character."""
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            parts.append("(.*?)")
        elif char == "?":
            parts.append("(.)")
        else:
            parts.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if fold else 0)
    return re.compile("".join(parts) + r"\Z", flags)


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
        found = _glob(pattern, self.comparator != "i;octet").match(value)
        if found is None:
            return None
        return [value, *found.groups()]
