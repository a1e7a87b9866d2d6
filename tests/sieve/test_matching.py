"""Comparators and :matches against references: glob's match variables are
those a lazy regular expression gives (RFC 5229's examples), found without
backtracking."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.sieve.matching import Matcher, glob, numeric_key


def reference(value: str, pattern: str, fold: bool) -> list[str] | None:
    parts = []
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
    found = re.compile("".join(parts) + r"\Z", flags).match(value)
    return None if found is None else [value, *found.groups()]


@settings(max_examples=1500, deadline=None)
@given(
    st.text(alphabet="abAB<@.", max_size=12),
    st.text(alphabet="aB*?\\<@", max_size=8),
    st.booleans(),
)
def test_glob_agrees_with_a_lazy_regex(value: str, pattern: str, fold: bool) -> None:
    assert glob(value, pattern, fold) == reference(value, pattern, fold)


def test_glob_examples() -> None:
    assert glob("[acme-users] [fwd] version 1.0 is out", "[*] *", True) == [
        "[acme-users] [fwd] version 1.0 is out",
        "acme-users",
        "[fwd] version 1.0 is out",
    ]
    assert glob("coyote@ACME.Example.COM", "coyote@**.com", True) == [
        "coyote@ACME.Example.COM", "", "ACME.Example",
    ]  # fmt: skip
    assert glob("a*b", "a\\*b", False) == ["a*b"]
    assert glob("axb", "a\\*b", False) is None
    # Many stars on a long value: no backtracking blow-up.
    assert glob("a" * 5000, "*a*a*a*a*a*a*a*a*a*a*b", False) is None


def test_comparators() -> None:
    assert numeric_key("42abc") == 42 and numeric_key("x") == float("inf")
    numeric = Matcher("value", "lt", "i;ascii-numeric")
    assert numeric.matches(["9"], ["10"]) == (True, None)
    assert Matcher("value", "lt", "i;ascii-casemap").matches(["9"], ["10"]) == (False, None)
    assert Matcher("is", "", "i;ascii-numeric").matches(["x"], ["y"]) == (True, None)  # both ∞
    assert Matcher("is", "", "i;octet").matches(["Ab"], ["ab"]) == (False, None)
    assert Matcher("is").matches(["Ab"], ["aB"]) == (True, None)
    assert Matcher("contains").matches(["Hello World"], ["WORLD"]) == (True, None)
    assert Matcher("contains", "", "i;octet").matches(["Hello World"], ["WORLD"]) == (False, None)
    assert Matcher("count", "eq", "i;ascii-numeric").matches(["a", "b"], ["2"]) == (True, None)
    # ASCII casemap folds only ASCII letters.
    assert Matcher("is").matches(["Ä"], ["ä"]) == (False, None)
