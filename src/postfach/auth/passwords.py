"""Password and app-password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from postfach import metrics

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "generate_app_password",
    "hash_password",
    "hash_password_async",
    "normalize_app_password",
    "password_problem",
    "verify_password",
]

# The one rule for an account's password, wherever it is set: CLI, web, admin API.
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def password_problem(password: str) -> str | None:
    """Why `password` cannot be an account's password, in one line; None: it can."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password may have at most {MAX_PASSWORD} characters"
    return None


# OWASP's argon2id minimum (19 MiB, 2 passes): about 15 ms here. Logins that
# repeat are answered by the cache in auth/__init__.py, not by argon2.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("postfach: equalises timing for unknown users")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str, secret: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, secret))
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, secret: str) -> bool:
    """Verifies in a worker thread; with no hash, burns the same time and says no."""
    metrics.password_checked()
    if password_hash is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, secret + "\x00")
        return False
    return await asyncio.to_thread(_verify, password_hash, secret)


def generate_app_password() -> str:
    """Four groups of four lower-case letters, as the large providers show them."""
    letters = string.ascii_lowercase
    groups = ("".join(secrets.choice(letters) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


def normalize_app_password(secret: str) -> str:
    """Mail programs get app passwords typed with or without the separators."""
    return "".join(ch for ch in secret if ch not in "- ").lower()
