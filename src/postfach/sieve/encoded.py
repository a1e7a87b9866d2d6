"""The encoded-character extension (RFC 5228 §2.4.2.4): "${hex:...}" and
"${unicode:...}" in strings stand for the characters they encode."""

from __future__ import annotations

import re

__all__ = ["decode_encoded"]

_ENCODED = re.compile(
    r"\$\{(hex|unicode):([ \t\r\n]*[0-9a-f]+(?:[ \t\r\n]+[0-9a-f]+)*[ \t\r\n]*)\}", re.IGNORECASE
)


def decode_encoded(text: str) -> str:
    """`text` with each encoding replaced; ValueError for octets that are not
    UTF-8 or a code point outside Unicode's scalar values."""
    if "${" not in text:
        return text

    def replace(found: re.Match[str]) -> str:
        numbers = found.group(2).split()
        if found.group(1).lower() == "hex":
            if any(len(number) > 2 for number in numbers):
                return found.group(0)  # not hex-pairs: left as written
            try:
                return bytes(int(number, 16) for number in numbers).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{found.group(0)!r} is not UTF-8") from None
        points = [int(number, 16) for number in numbers]
        if any(p > 0x10FFFF or 0xD800 <= p <= 0xDFFF for p in points):
            raise ValueError(f"{found.group(0)!r} names no Unicode character")
        return "".join(chr(point) for point in points)

    return _ENCODED.sub(replace, text)
