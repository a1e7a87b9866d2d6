"""Fixtures of the mailing tests: the facade over a fresh store, a virtual clock, sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from postfach.config import config_from_dict
from postfach.mailing.api import Mailing
from postfach.mailing.clock import ManualClock
from postfach.mailing.relays import RelaySettings
from postfach.store import Store
from support.smtpsink import Sink


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def mailing(store: Store, tmp_path: Path, clock: ManualClock) -> Mailing:
    config = config_from_dict(
        {"server": {"hostname": "mail.example.org", "data_dir": str(tmp_path / "data")}}, "test"
    )
    return await Mailing.open(store, config, clock=clock)


@pytest.fixture
async def sinks(clock: ManualClock) -> AsyncIterator[Callable[..., Awaitable[Sink]]]:
    started: list[Sink] = []

    async def start(**kwargs: object) -> Sink:
        sink = await Sink(clock, **kwargs).start()  # type: ignore[arg-type]
        started.append(sink)
        return sink

    yield start
    for sink in started:
        await sink.stop()


def relay_for(sink: Sink, name: str, **overrides: object) -> RelaySettings:
    values: dict[str, object] = {
        "name": name,
        "kind": "external",
        "sender_address": f"news@{name}.example",
        "sender_name": f"{name.title()} News",
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "login": sink.login,
        "password": sink.password,
        "concurrency": 1,
    }
    values.update(overrides)
    return RelaySettings(**values)  # type: ignore[arg-type]


async def make_campaign(
    mailing: Mailing, count: int, name: str = "spring", **overrides: object
) -> None:
    rows = "\n".join(f"user{i}@dest.example,User {i}" for i in range(count))
    await mailing.import_csv("customers", "email,name\n" + rows + "\n")
    values: dict[str, object] = {
        "text": "Hello {{ name }}, news for {{ email }}.\nBye: {{ unsubscribe_url }}\n",
        "from_name": "Shop",
        "from_address": "shop@shop.example",
    }
    values.update(overrides)
    await mailing.create_campaign(name, "customers", "News for {{ name }}", **values)  # type: ignore[arg-type]
