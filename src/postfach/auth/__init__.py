"""Authentication shared by every protocol: passwords, app passwords, switches,
throttling of failed logins (throttle.py), their log lines (authlog.py), the
SASL PLAIN/LOGIN exchange SMTP, IMAP and POP3 drive (sasl.py), and a cache of
recent successful logins.

Mail programs log in very often (a client may open a connection per folder every
few minutes), so a successful login is remembered under a keyed hash of user
name and secret, as Dovecot's auth_cache does. A cache hit still reads the
account and checks that the password hash, app password and credentials
generation it was made with are unchanged, so a password change, a revoked app
password or "log out everywhere" takes effect at once, on every node.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from postfach import metrics
from postfach.auth.authlog import AuthEvent, log_auth
from postfach.auth.logincache import CacheEntry, LoginCache, hash_digest
from postfach.auth.passwords import normalize_app_password, verify_password
from postfach.auth.throttle import MemoryBook, RuntimeBook, Throttle
from postfach.config import AuthConfig
from postfach.store.api import StoreApi, StoreError
from postfach.store.records import Account, AccountId

__all__ = ["AuthFailure", "AuthResult", "Authenticator"]

log = logging.getLogger(__name__)

PROTOCOLS = frozenset({"imap", "managesieve", "pop3", "smtp", "web"})


class AuthFailure(enum.Enum):
    BAD_CREDENTIALS = "bad credentials"
    DISABLED = "protocol disabled for this account"
    THROTTLED = "too many failed logins"
    # The account's password was right, but two-factor sign-in is on: mail
    # programs must use an app password (the refusal says so, as Gmail's does).
    APP_PASSWORD_REQUIRED = "two-factor sign-in is on: use an app password"  # noqa: S105


@dataclass(frozen=True, slots=True)
class AuthResult:
    account: Account | None
    failure: AuthFailure | None = None
    app_password: str | None = None  # the name of the app password used

    @property
    def ok(self) -> bool:
        return self.failure is None and self.account is not None


# Mail programs seen lately (the sessions page): a sign-in already noted this
# recently by this process is not written again.
SEEN_NOTE_INTERVAL = 300.0


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
        book = MemoryBook() if runtime is None else RuntimeBook(runtime)
        self._throttle = Throttle(config, clock, book)
        self._cache = LoginCache(runtime, clock)
        self._noted: dict[tuple[AccountId, str, str, str], float] = {}

    async def resolve_user(self, user: str) -> str | None:
        """The full address for a login name: the local part alone works on a one-domain server."""
        user = user.strip().lower()
        if "@" in user:
            return user
        domains = await self._store.accounts.list_domains()
        return f"{user}@{domains[0].name}" if len(domains) == 1 else None

    async def authenticate(self, user: str, secret: str, protocol: str, ip: str) -> AuthResult:
        """Checks a login; every refusal is logged in one line (authlog.py)."""
        assert protocol in PROTOCOLS, protocol
        address = await self.resolve_user(user)
        name = address or user.strip().lower()
        held = self._throttle.refusal(name, ip)
        if held is not None:
            log_auth(AuthEvent.THROTTLED, name, ip, protocol, held.value)
            metrics.login_failed(protocol)
            return AuthResult(None, AuthFailure.THROTTLED)
        account = await self._store.accounts.get_account(address) if address else None
        verified = await self._verify(account, address or "", secret, protocol)
        if verified is None or account is None:
            self._throttle.failed(name, ip)
            reason = "unknown-user" if account is None else "bad-password"
            log_auth(AuthEvent.FAILED, name, ip, protocol, reason)
            metrics.login_failed(protocol)
            return AuthResult(None, AuthFailure.BAD_CREDENTIALS)
        self._throttle.succeeded(name, ip)
        if (protocol == "imap" and not account.imap_enabled) or (
            protocol == "pop3" and not account.pop3_enabled
        ):
            log_auth(AuthEvent.REFUSED, name, ip, protocol, "protocol-disabled")
            return AuthResult(account, AuthFailure.DISABLED, verified.app_password)
        if verified.second_factor:
            log_auth(AuthEvent.REFUSED, name, ip, protocol, "app-password-required")
            return AuthResult(None, AuthFailure.APP_PASSWORD_REQUIRED)
        if protocol != "web":
            await self._note_seen(account.id, protocol, ip, verified.app_password)
        return AuthResult(account, None, verified.app_password)

    def second_factor_failed(self, address: str, ip: str) -> None:
        """A wrong code on the web's second step counts as a failed login, so
        the throttle bounds guessing as it bounds guessing passwords."""
        self._throttle.failed(address, ip)
        log_auth(AuthEvent.FAILED, address, ip, "web", "bad-second-factor")

    def second_factor_held(self, address: str, ip: str) -> bool:
        held = self._throttle.refusal(address, ip)
        if held is not None:
            log_auth(AuthEvent.THROTTLED, address, ip, "web", held.value)
        return held is not None

    async def _note_seen(
        self, account_id: AccountId, protocol: str, ip: str, app_password: str | None
    ) -> None:
        key = (account_id, protocol, ip, app_password or "")
        now = self._clock()
        if now - self._noted.get(key, -SEEN_NOTE_INTERVAL) < SEEN_NOTE_INTERVAL:
            return
        if len(self._noted) > 100_000:
            self._noted.clear()
        self._noted[key] = now
        try:
            # Another worker may have noted it: one write to the mail database
            # (with its fsync) per sign-in and interval, not one per worker.
            runtime = self._store.runtime
            if runtime is not None and not runtime.note_due(
                "\x00".join(map(str, key)), now, SEEN_NOTE_INTERVAL
            ):
                return
            await self._store.signin.note_login(account_id, protocol, ip, app_password)
        except StoreError:  # a list for the Sessions page: never a reason to refuse a login
            log.warning("could not note a %s sign-in of account %s", protocol, account_id)

    async def _verify(
        self, account: Account | None, address: str, secret: str, protocol: str
    ) -> CacheEntry | None:
        if account is None:
            await verify_password(None, secret)
            return None
        key = self._cache.key(address, secret, protocol)
        entry = self._cache.get(key)
        if entry is not None and await self._still_valid(entry, account):
            return entry
        if entry is not None:
            self._cache.drop(key)
        entry = await self._verify_slow(account, secret, protocol)
        if entry is not None:
            self._cache.put(key, entry)
        return entry

    async def _still_valid(self, entry: CacheEntry, account: Account) -> bool:
        if entry.expires < self._clock() or entry.generation != account.credentials_gen:
            return False
        if entry.app_password is None:
            return entry.hash_digest == hash_digest(account.password_hash)
        return any(
            p.name == entry.app_password and hash_digest(p.password_hash) == entry.hash_digest
            for p in await self._store.accounts.list_app_passwords(account.id)
        )

    async def _verify_slow(
        self, account: Account, secret: str, protocol: str
    ) -> CacheEntry | None:
        expires = self._clock() + self._config.cache_ttl
        generation = account.credentials_gen
        if await verify_password(account.password_hash, secret):
            second_factor = protocol != "web" and await self._store.signin.second_factor_enabled(
                account.id
            )
            digest = hash_digest(account.password_hash)
            return CacheEntry(account.id, digest, None, generation, expires, second_factor)
        if protocol == "web":  # the web page wants the real password, not an app password
            return None
        candidate = normalize_app_password(secret)
        for app in await self._store.accounts.list_app_passwords(account.id):
            if await verify_password(app.password_hash, candidate):
                digest = hash_digest(app.password_hash)
                return CacheEntry(account.id, digest, app.name, generation, expires)
        return None

    def forget(self, account_id: AccountId) -> None:
        """Drops cached logins of an account (password change, revocation, logout)."""
        self._cache.forget(account_id)
