"""Sieve (RFC 5228) and its extensions, pure: parsing and checking scripts
(`compile_script`), running them against a message (interpreter.py), and the
vacation rules (vacation.py). No I/O and no store here: delivery (postfach/
sieve_delivery.py) carries out the actions a script asks for.

Extensions: see `SUPPORTED_EXTENSIONS` (the SIEVE capability of ManageSieve).
"""

from __future__ import annotations

from postfach.sieve.errors import SieveError, SieveRuntimeError
from postfach.sieve.parser import parse
from postfach.sieve.specs import SUPPORTED_EXTENSIONS
from postfach.sieve.tree import Script
from postfach.sieve.validator import validate

__all__ = ["SUPPORTED_EXTENSIONS", "Script", "SieveError", "SieveRuntimeError", "compile_script"]


def compile_script(text: str | bytes) -> Script:
    """Parses and checks a script; SieveError (with line and column) when it is
    not valid Sieve or uses what is not supported or not required. Bytes must be
    UTF-8 (RFC 5228 §2.2)."""
    if isinstance(text, bytes):
        text = _decode(text)
    return validate(parse(text))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise SieveError(line, column, "the script is not UTF-8") from None
