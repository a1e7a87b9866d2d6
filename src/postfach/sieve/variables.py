"""Variables (RFC 5229): "${name}" and "${1}" in strings, and set's modifiers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["MAX_VALUE", "apply_modifiers", "expand", "quote_wildcards"]

MAX_VALUE = 4096  # characters a variable holds at most (RFC 5229 §6: a limit is allowed)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|[0-9]+)\}")
# Applied from the highest precedence down (RFC 5229 §4.1).
_ORDER = ("lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "length")


def expand(text: str, variables: Mapping[str, str], matches: Sequence[str]) -> str:
    """Replaces each reference; unknown variables and match variables are "".
    A "${" that is no reference stays as written."""
    if "${" not in text:
        return text

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        if name.isdigit():
            index = int(name)
            return matches[index] if index < len(matches) else ""
        return variables.get(name.lower(), "")

    return _REFERENCE.sub(value, text)


def quote_wildcards(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def apply_modifiers(value: str, modifiers: set[str]) -> str:
    for modifier in _ORDER:
        if modifier not in modifiers:
            continue
        if modifier == "lower":
            value = value.lower()
        elif modifier == "upper":
            value = value.upper()
        elif modifier == "lowerfirst":
            value = value[:1].lower() + value[1:]
        elif modifier == "upperfirst":
            value = value[:1].upper() + value[1:]
        elif modifier == "quotewildcard":
            value = quote_wildcards(value)
        else:
            value = str(len(value))
    return value[:MAX_VALUE]
