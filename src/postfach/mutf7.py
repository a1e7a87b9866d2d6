"""Modified UTF-7 (RFC 3501 §5.1.3), the encoding of IMAP mailbox names: a pure
codec that IMAP's grammar and the importers (moving/) share."""

from __future__ import annotations

import base64
import re

__all__ = ["decode_mutf7", "encode_mutf7"]


def encode_mutf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append("&" + b64 + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


_MUTF7_RUN = re.compile(r"&([A-Za-z0-9+,]*)-")


def decode_mutf7(name: str) -> str:
    """Decodes modified UTF-7; raises ValueError for a malformed name."""
    if not name.isascii():
        raise ValueError("8-bit characters in a modified UTF-7 name")
    out: list[str] = []
    pos = 0
    while pos < len(name):
        amp = name.find("&", pos)
        if amp < 0:
            out.append(name[pos:])
            break
        out.append(name[pos:amp])
        match = _MUTF7_RUN.match(name, amp)
        if match is None:
            raise ValueError("unterminated modified UTF-7 run")
        run = match.group(1)
        if run:
            b64 = run.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                raw = base64.b64decode(b64, validate=True)
                out.append(raw.decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError("malformed modified UTF-7") from exc
        else:
            out.append("&")
        pos = match.end()
    return "".join(out)
