"""Recent successful logins, under a keyed hash of protocol, user name and secret.

One process keeps them in memory. The workers of `serve --workers N` also share
them through the runtime file (store/runtime.py): the supervisor hands a
connection to whichever worker is least busy, so a mail program's next
connection often lands on a worker that has not seen it, and without the
shared entries each worker would check the same password with argon2 again
(tens of milliseconds of CPU, on a loop that serves other sessions).

An entry only says "this secret verified against this hash": the caller still
checks it against the account as it is now (auth/__init__.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from postfach.store.api import StoreError
from postfach.store.records import AccountId
from postfach.store.runtime import RuntimeState

__all__ = ["CacheEntry", "LoginCache", "hash_digest"]

log = logging.getLogger(__name__)

# Logins remembered by one process at most (about 350 bytes each, 35 MB in all),
# however many accounts it serves; each for auth.cache_ttl seconds.
LOGIN_CACHE_ENTRIES = 100_000


def hash_digest(password_hash: str) -> bytes:
    """What an entry keeps of the hash that verified: enough to tell it changed,
    and no argon2 hash in the runtime file."""
    return hashlib.sha256(password_hash.encode()).digest()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    account_id: AccountId
    hash_digest: bytes  # of the hash that verified: the account's or the app password's
    app_password: str | None
    generation: int
    expires: float
    # Verified by the account's password while two-factor sign-in was on: not
    # enough outside the web pages. Turning 2FA on or off bumps the credentials
    # generation, so a cached entry never outlives the setting it was made under.
    second_factor: bool = False


class LoginCache:
    def __init__(self, runtime: RuntimeState | None, clock: Callable[[], float]) -> None:
        self._clock = clock  # monotonic in service: one clock for every process of a machine
        # Shared only when the supervisor gave the run a key: without it the
        # workers' keyed hashes would not match.
        shared_key = runtime.secret if runtime is not None else None
        self._shared = runtime if shared_key else None
        self._key: bytes = shared_key or secrets.token_bytes(32)
        self._entries: dict[bytes, CacheEntry] = {}
        self._warned = False

    def key(self, address: str, secret: str, protocol: str) -> bytes:
        message = f"{protocol}\x00{address}\x00{secret}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, key: bytes) -> CacheEntry | None:
        entry = self._entries.get(key)
        # Past its time here, the shared entry may be newer (another worker
        # checked the password since): it answers, or the caller drops both.
        if self._shared is None or (entry is not None and entry.expires >= self._clock()):
            return entry
        try:
            row = self._shared.login_get(key)
        except StoreError as exc:
            self._failed(exc)
            return None
        if row is None:
            return None
        account_id, digest, app_password, generation, expires, second_factor = row
        entry = CacheEntry(
            AccountId(account_id), digest, app_password, generation, expires, second_factor
        )
        self._keep(key, entry)
        return entry

    def put(self, key: bytes, entry: CacheEntry) -> None:
        self._keep(key, entry)
        if self._shared is None:
            return
        row = (
            int(entry.account_id), entry.hash_digest, entry.app_password, entry.generation,
            entry.expires, entry.second_factor,
        )  # fmt: skip
        try:
            self._shared.login_put(key, row, self._clock())
        except StoreError as exc:
            self._failed(exc)

    def drop(self, key: bytes) -> None:
        if self._entries.pop(key, None) is None or self._shared is None:
            return
        try:
            self._shared.login_drop(key)
        except StoreError as exc:
            self._failed(exc)

    def forget(self, account_id: AccountId) -> None:
        """Drops an account's entries (password change, revocation, logout)."""
        self._entries = {k: e for k, e in self._entries.items() if e.account_id != account_id}
        if self._shared is not None:
            try:
                self._shared.login_forget(int(account_id))
            except StoreError as exc:
                self._failed(exc)

    def _keep(self, key: bytes, entry: CacheEntry) -> None:
        if len(self._entries) >= LOGIN_CACHE_ENTRIES:
            self._prune()
        self._entries[key] = entry

    def _prune(self) -> None:
        now = self._clock()
        kept = {k: e for k, e in self._entries.items() if e.expires >= now}
        if len(kept) > LOGIN_CACHE_ENTRIES // 2:  # that many within cache_ttl: the oldest go
            kept = dict(list(kept.items())[len(kept) - LOGIN_CACHE_ENTRIES // 2 :])
        self._entries = kept

    def _failed(self, exc: StoreError) -> None:
        # The shared entries only save work: a login never fails for them.
        if not self._warned:
            self._warned = True
            log.warning("login cache: the runtime file failed (%s); this worker keeps its own", exc)
