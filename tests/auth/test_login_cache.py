"""The login cache the workers of `serve --workers N` share (auth/logincache.py).

Two Authenticators on one runtime file are two workers. What one checked with
argon2 the other answers from the file, but only under the run's key, only for
the same secret and protocol, and never past a password change, a revoked app
password or the cache's lifetime. Sign-ins noted for the sessions page are
written once per interval, whichever worker sees them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from postfach.auth import Authenticator, AuthFailure
from postfach.auth.passwords import hash_password
from postfach.config import AuthConfig
from postfach.store import Store
from postfach.store.runtime import RuntimeState

USER = "bob@example.org"
SECRET = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def checks() -> float:
    return REGISTRY.get_sample_value("postfach_password_checks_total") or 0.0


class Workers:
    def __init__(self, store: Store, path: Path, secrets: list[bytes | None]) -> None:
        self.clock = Clock()
        self.states = [RuntimeState(path, n, secret) for n, secret in enumerate(secrets)]
        self.auths = []
        for state in self.states:
            store.runtime = state  # each Authenticator keeps the runtime it was made with
            self.auths.append(Authenticator(store, AuthConfig(cache_ttl=60), self.clock))
        store.runtime = None

    async def login(self, worker: int, secret: str, protocol: str = "imap") -> AuthFailure | None:
        result = await self.auths[worker].authenticate(USER, secret, protocol, "10.0.0.1")
        return result.failure

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_exc: object) -> None:
        for state in self.states:
            state.close()


@pytest.fixture
async def runtime_path(store: Store, tmp_path: Path) -> AsyncIterator[Path]:
    await store.accounts.add_domain("example.org")
    await store.accounts.add_account(USER, hash_password("right"))
    path = tmp_path / "runtime.db"
    RuntimeState.create(path)
    yield path


async def test_a_login_checked_in_one_worker_is_answered_in_the_other(
    store: Store, runtime_path: Path
) -> None:
    with Workers(store, runtime_path, [SECRET, SECRET]) as workers:
        before = checks()
        assert await workers.login(0, "right") is None
        assert await workers.login(1, "right") is None
        assert checks() == before + 1
        assert await workers.login(1, "right", "pop3") is None  # another protocol: its own
        assert checks() == before + 2
        assert await workers.login(1, "wrong") is AuthFailure.BAD_CREDENTIALS
        assert checks() == before + 3

        workers.clock.now += 61  # past cache_ttl: checked again
        assert await workers.login(1, "right") is None
        assert checks() == before + 4


async def test_an_expired_entry_of_one_worker_does_not_hide_a_newer_shared_one(
    store: Store, runtime_path: Path
) -> None:
    """Worker 0's own entry ran out; worker 1 has checked the password since. Worker
    0 takes worker 1's entry, and does not drop it for its own old one."""
    with Workers(store, runtime_path, [SECRET, SECRET]) as workers:
        assert await workers.login(0, "right") is None
        workers.clock.now += 61
        before = checks()
        assert await workers.login(1, "right") is None
        assert checks() == before + 1  # the shared entry had run out too
        assert await workers.login(0, "right") is None
        assert checks() == before + 1
        assert await workers.login(1, "right") is None
        assert checks() == before + 1


async def test_a_password_change_in_one_worker_holds_in_the_other(
    store: Store, runtime_path: Path
) -> None:
    with Workers(store, runtime_path, [SECRET, SECRET]) as workers:
        assert await workers.login(0, "right") is None
        account = await store.accounts.get_account(USER)
        assert account is not None
        await store.accounts.set_password_hash(account.id, hash_password("new one"))
        assert await workers.login(1, "right") is AuthFailure.BAD_CREDENTIALS
        assert await workers.login(1, "new one") is None
        before = checks()
        assert await workers.login(0, "new one") is None
        assert checks() == before  # the entry worker 1 made


async def test_without_the_runs_key_nothing_is_shared(store: Store, runtime_path: Path) -> None:
    """A worker of another run (another key), or one given no key, has its own cache."""
    with Workers(store, runtime_path, [SECRET, b"o" * 32, None]) as workers:
        before = checks()
        for worker in range(3):
            assert await workers.login(worker, "right") is None
        assert checks() == before + 3


def test_a_sign_in_is_noted_once_per_interval_by_all_workers(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    RuntimeState.create(path)
    first, second = RuntimeState(path, 0), RuntimeState(path, 1)
    try:
        key = "7\x00imap\x0010.0.0.1\x00"
        assert first.note_due(key, 1000.0, 300.0)
        assert not second.note_due(key, 1100.0, 300.0)
        assert second.note_due("7\x00pop3\x0010.0.0.1\x00", 1100.0, 300.0)
        assert second.note_due(key, 1301.0, 300.0)  # the interval is over
        assert not first.note_due(key, 1302.0, 300.0)
    finally:
        first.close()
        second.close()
