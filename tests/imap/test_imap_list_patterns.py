"""LIST/LSUB mailbox patterns: the matcher agrees with plain definitions and its
work is bounded by len(pattern)·len(name), counted in steps, never timed; over
the wire a pattern that made the old regex backtrack for minutes is answered
at once while another client is served."""

from __future__ import annotations

import asyncio
import functools
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from postfach.imap.patterns import compile_pattern, match_steps, matches

SEP = "/"
# Few letters, so that patterns and names share characters and matches happen.
PATTERN_CHARS = st.sampled_from(list("ab/*%") + ["INBOX", "inbox", "x"])
NAME_CHARS = st.sampled_from(list("ab/") + ["INBOX", "InBox", "x"])
patterns = st.lists(PATTERN_CHARS, max_size=12).map("".join)
names = st.lists(NAME_CHARS, max_size=12).map("".join)


def reference(pattern: str, name: str) -> bool:
    """RFC 9051 §6.3.9 by memoised recursion: `*` any run, `%` any run without "/"."""
    if pattern[:5].upper() == "INBOX":
        pattern = "INBOX" + pattern[5:]
        if name[:5].upper() == "INBOX":
            name = "INBOX" + name[5:]

    @functools.cache
    def at(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(name)
        ch = pattern[i]
        if ch == "*":
            return at(i + 1, j) or (j < len(name) and at(i, j + 1))
        if ch == "%":
            return at(i + 1, j) or (j < len(name) and name[j] != SEP and at(i, j + 1))
        return j < len(name) and name[j] == ch and at(i + 1, j + 1)

    return at(0, 0)


def old_regex(pattern: str) -> re.Pattern[str]:
    """What LIST used before: right, but exponential on `*%*%…x`."""
    out = [".*" if ch == "*" else "[^/]*" if ch == "%" else re.escape(ch) for ch in pattern]
    body = "".join(out)
    if pattern[:5].upper() == "INBOX":
        body = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(body, re.S)


@settings(max_examples=600, deadline=None)
@given(patterns, names)
def test_matcher_agrees_with_the_reference(pattern: str, name: str) -> None:
    assert matches(compile_pattern(pattern, SEP), name) == reference(pattern, name)


@settings(max_examples=300, deadline=None)
@given(patterns, names)
def test_matcher_agrees_with_the_old_regex(pattern: str, name: str) -> None:
    """Same answers as before, INBOX's case rule included (few wildcards: no blow-up)."""
    assume(sum(ch in "*%" for ch in pattern) <= 4)
    expected = old_regex(pattern).fullmatch(name) is not None
    assert matches(compile_pattern(pattern, SEP), name) == expected


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(list("a/*%")), max_size=120).map("".join),
    st.lists(st.sampled_from(list("aab/")), max_size=200).map("".join),
)
def test_work_is_bounded_by_pattern_times_name(pattern: str, name: str) -> None:
    _, steps = match_steps(compile_pattern(pattern, SEP), name)
    assert steps <= 2 * (len(pattern) + 1) * (len(name) + 1)


def test_the_backtracking_patterns_cost_little() -> None:
    name = "a" * 20
    for pairs in (7, 50, 500):
        pattern = compile_pattern("*%" * pairs + "x", SEP)
        found, steps = match_steps(pattern, name)
        assert not found
        # wildcards collapse: the pattern is "*x" whatever the number of pairs
        assert steps <= 2 * 3 * (len(name) + 1)
    found, steps = match_steps(compile_pattern("*a" * 10 + "%", SEP), name)
    assert found and steps <= 2 * 22 * 21


# -- over the wire ----------------------------------------------------------------------

HOSTILE = ['"' + "*%" * 7 + 'x"', '"' + "*%" * 50 + 'x"', '"' + "*%" * 50 + '%a"']


async def test_hostile_list_patterns_answer_at_once(wire):
    c = await wire()
    other = await wire()
    await c.ok('CREATE "' + "a" * 20 + '"')
    for pattern in HOSTILE:
        tag = c.next_tag()
        await c.send(f'{tag} LIST "" {pattern}\r\n')
        # another session is served meanwhile, and both finish well inside 5 s
        started = asyncio.get_running_loop().time()
        noop = asyncio.create_task(other.cmd("NOOP"))
        untagged, status = await asyncio.wait_for(c.until_tagged(tag), 5)
        assert asyncio.get_running_loop().time() - started < 5, "LIST hung the worker"
        assert status.startswith("OK")
        expected = ['* LIST (\\HasNoChildren) "/" ' + "a" * 20] if pattern.endswith('a"') else []
        assert untagged == expected
        assert (await asyncio.wait_for(noop, 5))[1].startswith("OK")
    assert await c.ok('LSUB "" "' + "*%" * 50 + 'x"') == []
    assert await c.ok('LIST "" (' + " ".join(HOSTILE) + ")") == [
        '* LIST (\\HasNoChildren) "/" ' + "a" * 20
    ]
