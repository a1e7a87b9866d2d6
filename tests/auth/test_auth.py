"""Authentication: full address or local part, app passwords, switches, throttling, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from postfach.auth import Authenticator, AuthFailure
from postfach.auth.passwords import (
    generate_app_password,
    hash_password,
    normalize_app_password,
)
from postfach.auth.sasl import SaslError, decode_plain
from postfach.config import AuthConfig
from postfach.store import Store
from postfach.store.runtime import RuntimeState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def auth(store: Store) -> tuple[Authenticator, Store, Clock]:
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", hash_password("right"))
    clock = Clock()
    return Authenticator(store, AuthConfig(cache_ttl=60), clock), store, clock


async def test_password_and_local_part(auth: tuple[Authenticator, Store, Clock]) -> None:
    authenticator, _store, _clock = auth
    result = await authenticator.authenticate("bob@example.org", "right", "imap", "1.2.3.4")
    assert result.ok and result.account and result.account.address == "bob@example.org"
    # One domain on the server: the local part alone is enough (R1).
    assert (await authenticator.authenticate("Bob", "right", "pop3", "1.2.3.4")).ok
    wrong = await authenticator.authenticate("bob@example.org", "wrong", "imap", "1.2.3.4")
    assert not wrong.ok and wrong.failure is AuthFailure.BAD_CREDENTIALS
    unknown = await authenticator.authenticate("eve@example.org", "right", "imap", "1.2.3.4")
    assert unknown.failure is AuthFailure.BAD_CREDENTIALS


async def test_local_part_ambiguous_with_two_domains(
    auth: tuple[Authenticator, Store, Clock],
) -> None:
    authenticator, store, _clock = auth
    await store.accounts.add_domain("example.net")
    assert not (await authenticator.authenticate("bob", "right", "imap", "1.2.3.4")).ok


async def test_protocol_switches(auth: tuple[Authenticator, Store, Clock]) -> None:
    authenticator, store, _clock = auth
    account = await store.accounts.get_account("bob@example.org")
    assert account is not None
    await store.accounts.update_account(account.id, pop3_enabled=False, imap_enabled=False)
    for protocol in ("imap", "pop3"):
        result = await authenticator.authenticate("bob@example.org", "right", protocol, "ip")
        assert result.failure is AuthFailure.DISABLED
    # A wrong password never reveals the switch.
    bad = await authenticator.authenticate("bob@example.org", "nope", "pop3", "ip")
    assert bad.failure is AuthFailure.BAD_CREDENTIALS
    assert (await authenticator.authenticate("bob@example.org", "right", "smtp", "ip")).ok


async def test_app_passwords_and_revocation(auth: tuple[Authenticator, Store, Clock]) -> None:
    authenticator, store, _clock = auth
    account = await store.accounts.get_account("bob@example.org")
    assert account is not None
    secret = generate_app_password()
    await store.accounts.add_app_password(
        account.id, "phone", hash_password(normalize_app_password(secret))
    )
    for typed in (secret, secret.replace("-", " "), secret.replace("-", "").upper()):
        result = await authenticator.authenticate("bob@example.org", typed, "imap", "ip")
        assert result.ok and result.app_password == "phone"
    # The web page wants the real password.
    assert not (await authenticator.authenticate("bob@example.org", secret, "web", "ip")).ok
    await store.accounts.revoke_app_password(account.id, "phone")
    # Cached, but revoked: refused at once.
    assert not (await authenticator.authenticate("bob@example.org", secret, "imap", "ip")).ok


async def test_password_change_and_logout_invalidate_cache(
    auth: tuple[Authenticator, Store, Clock],
) -> None:
    authenticator, store, _clock = auth
    account = await store.accounts.get_account("bob@example.org")
    assert account is not None
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "ip")).ok
    await store.accounts.set_password_hash(account.id, hash_password("newer"))
    assert not (await authenticator.authenticate("bob@example.org", "right", "imap", "ip")).ok
    assert (await authenticator.authenticate("bob@example.org", "newer", "imap", "ip")).ok
    await store.accounts.bump_credentials(account.id)
    # A new generation: the cache entry is stale, the password still right.
    assert (await authenticator.authenticate("bob@example.org", "newer", "imap", "ip")).ok


async def test_throttle_holds_the_user_at_that_address_only(
    auth: tuple[Authenticator, Store, Clock],
) -> None:
    """Issue #14.4: wrong passwords from one address do not lock the user out elsewhere."""
    authenticator, _store, clock = auth
    for _ in range(5):
        result = await authenticator.authenticate("bob@example.org", "bad", "imap", "10.0.0.1")
        assert result.failure is AuthFailure.BAD_CREDENTIALS
    # That address is refused without a check, even with the right password ...
    throttled = await authenticator.authenticate("bob@example.org", "right", "imap", "10.0.0.1")
    assert throttled.failure is AuthFailure.THROTTLED
    # ... every other address is not.
    assert (await authenticator.authenticate("bob@example.org", "right", "pop3", "10.0.0.2")).ok
    clock.now += 301
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.0.0.1")).ok


async def test_throttle_per_address(auth: tuple[Authenticator, Store, Clock]) -> None:
    authenticator, store, _clock = auth
    await store.accounts.add_account("carol@example.org", hash_password("pw"))
    for n in range(AuthConfig().address_max_failures):
        result = await authenticator.authenticate(f"u{n}@example.org", "x", "smtp", "10.0.0.1")
        assert result.failure is AuthFailure.BAD_CREDENTIALS
    from_ip = await authenticator.authenticate("carol@example.org", "pw", "imap", "10.0.0.1")
    assert from_ip.failure is AuthFailure.THROTTLED
    assert (await authenticator.authenticate("carol@example.org", "pw", "imap", "10.0.0.9")).ok


async def _spread_failures(authenticator: Authenticator, count: int) -> None:
    """`count` wrong passwords for bob, two from each of many addresses."""
    for n in range(count):
        result = await authenticator.authenticate("bob", "bad", "imap", f"10.1.0.{n // 2}")
        assert result.failure is AuthFailure.BAD_CREDENTIALS


async def test_user_ceiling_spares_known_addresses(store: Store) -> None:
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", hash_password("right"))
    clock = Clock()
    config = AuthConfig(user_max_failures=10, cache_ttl=60)
    authenticator = Authenticator(store, config, clock)
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.0.0.1")).ok
    await _spread_failures(authenticator, 9)
    # Under the ceiling: a new address still gets its password checked.
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.2.0.1")).ok
    await _spread_failures(authenticator, 1)
    fresh = await authenticator.authenticate("bob@example.org", "right", "imap", "10.2.0.2")
    assert fresh.failure is AuthFailure.THROTTLED
    # The devices that logged in before keep working.
    assert (await authenticator.authenticate("bob@example.org", "right", "pop3", "10.0.0.1")).ok
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.2.0.1")).ok
    clock.now += 301
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.2.0.2")).ok


async def test_user_ceiling_without_known_addresses(store: Store) -> None:
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", hash_password("right"))
    config = AuthConfig(user_max_failures=10, known_address_ttl=0, cache_ttl=60)
    authenticator = Authenticator(store, config, Clock())
    assert (await authenticator.authenticate("bob@example.org", "right", "imap", "10.0.0.1")).ok
    await _spread_failures(authenticator, 10)
    known = await authenticator.authenticate("bob@example.org", "right", "imap", "10.0.0.1")
    assert known.failure is AuthFailure.THROTTLED


async def test_throttle_is_shared_by_the_workers(store: Store, tmp_path: Path) -> None:
    """`serve --workers N`: failures in one worker count in the others (runtime file)."""
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account("bob@example.org", hash_password("right"))
    path = tmp_path / "runtime.db"
    RuntimeState.create(path)
    clock = Clock()
    workers = []
    config = AuthConfig(user_max_failures=10, cache_ttl=60)
    for index in range(2):
        store.runtime = RuntimeState(path, index)
        workers.append(Authenticator(store, config, clock))
    try:
        for attempt in range(5):
            worker = workers[attempt % 2]
            result = await worker.authenticate("bob@example.org", "bad", "imap", "10.0.0.1")
            assert result.failure is AuthFailure.BAD_CREDENTIALS
        for worker in workers:
            result = await worker.authenticate("bob@example.org", "right", "imap", "10.0.0.1")
            assert result.failure is AuthFailure.THROTTLED
        # Another address logs in, in either worker, and becomes known to both.
        assert (await workers[1].authenticate("bob@example.org", "right", "pop3", "10.0.0.3")).ok
        for attempt in range(5):
            worker = workers[attempt % 2]
            ip = f"10.1.0.{attempt}"
            result = await worker.authenticate("bob@example.org", "bad", "imap", ip)
            assert result.failure is AuthFailure.BAD_CREDENTIALS
        for worker in workers:  # the ceiling (10) is reached, counted over both workers
            fresh = await worker.authenticate("bob@example.org", "right", "imap", "10.2.0.1")
            assert fresh.failure is AuthFailure.THROTTLED
            assert (await worker.authenticate("bob@example.org", "right", "imap", "10.0.0.3")).ok
        clock.now += 301
        assert (await workers[0].authenticate("bob@example.org", "right", "imap", "10.0.0.1")).ok
    finally:
        assert store.runtime is not None
        store.runtime.close()
        store.runtime = None


def test_sasl_plain() -> None:
    import base64

    assert decode_plain(base64.b64encode(b"\x00bob\x00pw")) == ("", "bob", "pw")
    assert decode_plain(base64.b64encode(b"admin\x00bob\x00p\xc3\xa4")) == ("admin", "bob", "pä")
    for bad in (b"!!!", base64.b64encode(b"bob\x00pw"), base64.b64encode(b"\x00\x00pw")):
        with pytest.raises(SaslError):
            decode_plain(bad)


async def test_login_cache_is_bounded(
    auth: tuple[Authenticator, Store, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many accounts log in, a process remembers at most LOGIN_CACHE_ENTRIES
    logins: past it, the oldest are checked by their password again."""
    import postfach.auth
    import postfach.auth.logincache

    authenticator, store, _clock = auth
    monkeypatch.setattr(postfach.auth.logincache, "LOGIN_CACHE_ENTRIES", 4)
    checked: list[str] = []
    original = postfach.auth.verify_password

    async def counting(password_hash: str | None, secret: str) -> bool:
        checked.append(secret)
        return await original(password_hash, secret)

    monkeypatch.setattr(postfach.auth, "verify_password", counting)
    users = [f"user{n}@example.org" for n in range(6)]
    for n, user in enumerate(users):
        await store.accounts.add_account(user, hash_password(f"secret {n}"))
    for n, user in enumerate(users):
        assert (await authenticator.authenticate(user, f"secret {n}", "imap", "ip")).ok
    assert len(checked) == 6
    assert (await authenticator.authenticate(users[5], "secret 5", "imap", "ip")).ok
    assert len(checked) == 6  # the newest: remembered
    assert (await authenticator.authenticate(users[0], "secret 0", "imap", "ip")).ok
    assert len(checked) == 7  # the oldest: forgotten, checked again
