"""Authentication shared by every protocol: passwords, app passwords, switches,
throttling of failed logins, and a cache of recent successful logins.

Mail programs log in very often (a client may open a connection per folder every
few minutes), so a successful login is remembered under a keyed hash of user
name and secret, as Dovecot's auth_cache does. A cache hit still reads the
account and checks that the password hash, app password and credentials
generation it was made with are unchanged, so a password change, a revoked app
password or "log out everywhere" takes effect at once, on every node.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from postfach.auth.passwords import normalize_app_password, verify_password
from postfach.config import AuthConfig
from postfach.store.api import StoreApi
from postfach.store.records import Account, AccountId
from postfach.store.runtime import RuntimeState

__all__ = ["AuthFailure", "AuthResult", "Authenticator"]

PROTOCOLS = frozenset({"imap", "pop3", "smtp", "web"})


class AuthFailure(enum.Enum):
    BAD_CREDENTIALS = "bad credentials"
    DISABLED = "protocol disabled for this account"
    THROTTLED = "too many failed logins"


@dataclass(frozen=True, slots=True)
class AuthResult:
    account: Account | None
    failure: AuthFailure | None = None
    app_password: str | None = None  # the name of the app password used

    @property
    def ok(self) -> bool:
        return self.failure is None and self.account is not None


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    account_id: AccountId
    password_hash: str  # the hash that verified: the account's or the app password's
    app_password: str | None
    generation: int
    expires: float


def _over_limit(times: Sequence[float], now: float, config: AuthConfig) -> bool:
    """Too many failures in the window, or the lockout after them still running."""
    recent = sum(1 for t in times if t >= now - config.failure_window)
    locked = len(times) >= config.max_failures and times[-1] >= now - config.lockout
    return recent >= config.max_failures or locked


class _Throttle:
    """Counts failures per key in a sliding window; refuses while over the limit."""

    def __init__(self, config: AuthConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, key: str) -> bool:
        times = self._failures.get(key)
        if not times:
            return False
        now = self._clock()
        while times and times[0] < now - self.horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return False
        return _over_limit(times, now, self._config)

    @property
    def horizon(self) -> float:
        """How far back a failure can still matter."""
        return max(self._config.failure_window, self._config.lockout)

    @property
    def kept(self) -> int:
        """How many failures of one key are remembered."""
        return self._config.max_failures * 4

    def fail(self, key: str) -> None:
        times = self._failures.setdefault(key, deque(maxlen=self.kept))
        times.append(self._clock())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class _SharedThrottle(_Throttle):
    """The same count for all workers of `serve --workers N` (store/runtime.py): an
    attacker must not get a fresh allowance in every worker process."""

    def __init__(
        self, config: AuthConfig, clock: Callable[[], float], runtime: RuntimeState
    ) -> None:
        super().__init__(config, clock)
        self._runtime = runtime

    def blocked(self, key: str) -> bool:
        now = self._clock()
        times = self._runtime.auth_failures(key, since=now - self.horizon)
        return bool(times) and _over_limit(times, now, self._config)

    def fail(self, key: str) -> None:
        now = self._clock()
        self._runtime.auth_fail(key, now, keep=self.kept, forget_before=now - self.horizon)

    def clear(self, key: str) -> None:
        self._runtime.auth_clear(key)


class Authenticator:
    def __init__(
        self,
        store: StoreApi,
        config: AuthConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        runtime = store.runtime
        self._throttle = (
            _Throttle(config, clock) if runtime is None else _SharedThrottle(config, clock, runtime)
        )
        self._cache: dict[bytes, _CacheEntry] = {}
        self._cache_key = secrets.token_bytes(32)

    async def resolve_user(self, user: str) -> str | None:
        """The full address for a login name: the local part alone works on a one-domain server."""
        user = user.strip().lower()
        if "@" in user:
            return user
        domains = await self._store.list_domains()
        return f"{user}@{domains[0].name}" if len(domains) == 1 else None

    async def authenticate(self, user: str, secret: str, protocol: str, ip: str) -> AuthResult:
        assert protocol in PROTOCOLS, protocol
        address = await self.resolve_user(user)
        user_key = f"user:{address or user.lower()}"
        ip_key = f"ip:{ip}"
        if self._throttle.blocked(user_key) or self._throttle.blocked(ip_key):
            return AuthResult(None, AuthFailure.THROTTLED)
        account = await self._store.get_account(address) if address else None
        verified = await self._verify(account, address or "", secret, protocol)
        if verified is None or account is None:
            self._throttle.fail(user_key)
            self._throttle.fail(ip_key)
            return AuthResult(None, AuthFailure.BAD_CREDENTIALS)
        self._throttle.clear(user_key)
        if (protocol == "imap" and not account.imap_enabled) or (
            protocol == "pop3" and not account.pop3_enabled
        ):
            return AuthResult(account, AuthFailure.DISABLED, verified.app_password)
        return AuthResult(account, None, verified.app_password)

    def _key(self, address: str, secret: str, protocol: str) -> bytes:
        message = f"{protocol}\x00{address}\x00{secret}".encode("utf-8", "surrogatepass")
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    async def _verify(
        self, account: Account | None, address: str, secret: str, protocol: str
    ) -> _CacheEntry | None:
        if account is None:
            await verify_password(None, secret)
            return None
        key = self._key(address, secret, protocol)
        entry = self._cache.get(key)
        if entry is not None and await self._still_valid(entry, account):
            return entry
        self._cache.pop(key, None)
        entry = await self._verify_slow(account, secret, protocol)
        if entry is not None:
            if len(self._cache) > 100_000:
                self._prune()
            self._cache[key] = entry
        return entry

    async def _still_valid(self, entry: _CacheEntry, account: Account) -> bool:
        if entry.expires < self._clock() or entry.generation != account.credentials_gen:
            return False
        if entry.app_password is None:
            return entry.password_hash == account.password_hash
        return any(
            p.name == entry.app_password and p.password_hash == entry.password_hash
            for p in await self._store.list_app_passwords(account.id)
        )

    async def _verify_slow(
        self, account: Account, secret: str, protocol: str
    ) -> _CacheEntry | None:
        expires = self._clock() + self._config.cache_ttl
        if await verify_password(account.password_hash, secret):
            return _CacheEntry(
                account.id, account.password_hash, None, account.credentials_gen, expires
            )
        if protocol == "web":  # the web page wants the real password, not an app password
            return None
        candidate = normalize_app_password(secret)
        for app in await self._store.list_app_passwords(account.id):
            if await verify_password(app.password_hash, candidate):
                return _CacheEntry(
                    account.id, app.password_hash, app.name, account.credentials_gen, expires
                )
        return None

    def _prune(self) -> None:
        now = self._clock()
        self._cache = {k: e for k, e in self._cache.items() if e.expires >= now}

    def forget(self, account_id: AccountId) -> None:
        """Drops cached logins of an account (password change, revocation, logout)."""
        self._cache = {k: e for k, e in self._cache.items() if e.account_id != account_id}
