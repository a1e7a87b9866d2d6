"""Records of the Sieve role (store/sieve.py)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SieveScriptInfo"]


@dataclass(frozen=True, slots=True)
class SieveScriptInfo:
    """One of an account's Sieve scripts, as ManageSieve's LISTSCRIPTS shows it;
    `size` is the script's length in octets (UTF-8)."""

    name: str
    active: bool
    size: int
