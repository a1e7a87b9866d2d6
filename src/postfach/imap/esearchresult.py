"""The ESEARCH response (RFC 4731 §3.1) for SEARCH, and for SORT with RETURN
(RFC 5267 ESORT), with RFC 9394 PARTIAL. Pure functions over the result.

For SORT the result is in sort order: MIN and MAX are its first and last, and
ALL and PARTIAL keep that order, joining only ascending runs into ranges.
"""

from __future__ import annotations

from collections.abc import Sequence

from postfach.imap.grammar import compact_uids

__all__ = ["ordered_set", "partial_slice", "result_line"]


def partial_slice(count: int, partial: tuple[int, int]) -> slice:
    """Positions RFC 9394 PARTIAL names in a result of `count`: (1, 100) the first
    hundred, (-1, -100) the last hundred (from the end), in result order."""
    first, last = partial
    if first > 0:
        return slice(first - 1, last)
    start = max(count + last, 0)
    stop = max(count + first + 1, 0)
    return slice(start, stop)


def ordered_set(numbers: Sequence[int]) -> str:
    """`3,4,5,1` → `3:5,1`: a sequence set that keeps the order it was given."""
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(parts)


def result_line(
    tag: str,
    uid: bool,
    numbers: Sequence[int],
    opts: Sequence[str],
    *,
    modseq: int | None = None,
    partial: tuple[int, int] | None = None,
    sorted_result: bool = False,
) -> str:
    """`ESEARCH (TAG "a") UID MIN 1 MAX 9 COUNT 4 ALL 1:3,9`; no ALL, MIN, MAX or
    MODSEQ when nothing matched (RFC 4731 §3.1), PARTIAL's set NIL then."""
    wanted = set(opts) - {"SAVE", "UPDATE", "CONTEXT"} or {"ALL"}
    as_set = ordered_set if sorted_result else compact_uids
    out = [f'ESEARCH (TAG "{tag}")']
    if uid:
        out.append("UID")
    if numbers and "MIN" in wanted:
        out.append(f"MIN {numbers[0]}")
    if numbers and "MAX" in wanted:
        out.append(f"MAX {numbers[-1]}")
    if "COUNT" in wanted:
        out.append(f"COUNT {len(numbers)}")
    if numbers and "ALL" in wanted:
        out.append(f"ALL {as_set(numbers)}")
    if partial is not None and "PARTIAL" in wanted:
        picked = numbers[partial_slice(len(numbers), partial)]
        out.append(f"PARTIAL ({partial[0]}:{partial[1]} {as_set(picked) if picked else 'NIL'})")
    if modseq and numbers:
        out.append(f"MODSEQ {modseq}")
    return " ".join(out)
