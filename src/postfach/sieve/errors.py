"""The one error of the Sieve package: what is wrong, and where in the script."""

from __future__ import annotations

__all__ = ["SieveError", "SieveRuntimeError"]


class SieveError(Exception):
    """A script that cannot run: it does not parse, or asks for what does not exist.
    `line` and `column` count from 1; str() is "line L, column C: message"."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.message = message


class SieveRuntimeError(SieveError):
    """A compiled script failed while it ran (RFC 5228 §2.10.6): e.g. a redirect
    to an address a variable made invalid. Delivery then keeps the message."""
