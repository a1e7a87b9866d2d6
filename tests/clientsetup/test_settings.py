"""`postfach settings`: own domains, every preset, autoconfig, SRV, unknown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import server_config_dict
from postfach.clientsetup.discover import Discovery, SrvRecord, parse_autoconfig
from postfach.clientsetup.presets import PRESETS, find_preset
from postfach.clientsetup.settings import lookup_settings, settings_json, split_address
from postfach.config import config_from_dict
from postfach.store import Store
from support.cli import run_cli

from .kit import http_server

PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
    "http": 8080,
    "devices": 2525,
}


def _config(tmp_path: Path, **listeners: str):  # type: ignore[no-untyped-def]
    data = server_config_dict(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    data["listeners"] = {name: f"0.0.0.0:{port}" for name, port in PORTS.items()}
    data["listeners"].update(listeners)
    data["server"]["public_name"] = "mx.example.org"
    return config_from_dict(data, "test")


# -- own domains ----------------------------------------------------------------------


async def test_own_domain_rows_come_from_config(tmp_path: Path, store: Store) -> None:
    await store.accounts.add_domain("example.org")
    config = _config(tmp_path)
    s = await lookup_settings("Ann@Example.org", config=config, store=store)
    assert s.source == "postfach"
    got = {(r.protocol, r.port, r.security) for r in s.rows}
    assert got == {
        ("IMAP", 993, "SSL/TLS"),
        ("IMAP", 143, "STARTTLS"),
        ("POP3", 995, "SSL/TLS"),
        ("POP3", 110, "STARTTLS"),
        ("SMTP", 465, "SSL/TLS"),
        ("SMTP", 587, "STARTTLS"),
        ("SMTP", 2525, "none"),
    }
    assert {r.host for r in s.rows} == {"mx.example.org"}
    assert {r.username for r in s.rows} == {"Ann@example.org"}
    assert any("no account" in n for n in s.notes)
    assert any("self-signed" in n for n in s.notes)


async def test_own_domain_notes_follow_the_account(tmp_path: Path, store: Store) -> None:
    await store.accounts.add_domain("example.org")
    account = await store.accounts.add_account("ann@example.org", "x")
    await store.accounts.update_account(account.id, pop3_enabled=False, imap_enabled=False)
    s = await lookup_settings("ann@example.org", config=_config(tmp_path, devices=""), store=store)
    pop3 = [r for r in s.rows if r.protocol == "POP3"]
    assert all(r.note == "POP3 is switched off for this account" for r in pop3)
    assert all(r.security != "none" for r in s.rows)  # devices listener is off
    assert any("pop3=on" in n for n in s.notes) and any("imap=on" in n for n in s.notes)
    await store.accounts.update_account(account.id, pop3_enabled=True, imap_enabled=True)
    s = await lookup_settings("ann@example.org", config=_config(tmp_path), store=store)
    assert not any("switched off" in r.note for r in s.rows)


async def test_disabled_listener_is_not_offered(tmp_path: Path, store: Store) -> None:
    await store.accounts.add_domain("example.org")
    config = _config(tmp_path, pop3="", pop3s="")
    s = await lookup_settings("ann@example.org", config=config, store=store)
    assert "POP3" not in {r.protocol for r in s.rows}


async def test_foreign_domain_on_a_postfach_host_uses_presets(tmp_path: Path, store: Store) -> None:
    await store.accounts.add_domain("example.org")
    s = await lookup_settings("ann@gmail.com", config=_config(tmp_path), store=store)
    assert s.source == "preset" and s.provider == "Gmail"


# -- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=[p.name for p in PRESETS])
async def test_every_preset(preset) -> None:  # type: ignore[no-untyped-def]
    for domain in preset.domains:
        assert find_preset(domain) is preset
        s = await lookup_settings(f"user.name@{domain}")
        assert s.source == "preset" and s.provider == preset.name and s.reference
        protocols = {r.protocol for r in s.rows}
        assert {"IMAP", "SMTP"} <= protocols
        for row in s.rows:
            assert row.host and "." in row.host and 0 < row.port < 65536
            assert row.security in ("SSL/TLS", "STARTTLS", "none")
            assert row.username in ("user.name", f"user.name@{domain}")
            if row.security == "SSL/TLS":
                assert row.port in (993, 995, 465)
        data = json.loads(settings_json(s))
        assert data["source"] == "preset" and len(data["servers"]) == len(s.rows)


def test_preset_domains_are_unique_and_lower_case() -> None:
    domains = [d for p in PRESETS for d in p.domains]
    assert len(domains) == len(set(domains))
    assert all(d == d.lower() for d in domains)
    names = {p.name for p in PRESETS}
    for required in (
        "Yandex",
        "Mail.ru",
        "Gmail",
        "Outlook.com",
        "Yahoo",
        "iCloud",
        "Rambler",
        "GMX",
        "WEB.DE",
        "T-Online",
        "Zoho Mail",
    ):
        assert required in names


async def test_yandex_exactly_as_the_guide_lists_it() -> None:
    s = await lookup_settings("login@yandex.ru")
    rows = [(r.protocol, r.host, r.port, r.security, r.username) for r in s.rows]
    assert rows[:3] == [
        ("IMAP", "imap.yandex.ru", 993, "SSL/TLS", "login"),
        ("POP3", "pop.yandex.ru", 995, "SSL/TLS", "login"),
        ("SMTP", "smtp.yandex.ru", 465, "SSL/TLS", "login"),
    ]
    assert rows[3][1:4] == ("smtp-devices.yandex.com", 25, "none")  # for scanners
    assert any("Mail programs" in n for n in s.notes)


async def test_mail_ru_exactly_as_the_guide_lists_it() -> None:
    s = await lookup_settings("name@mail.ru")
    rows = [(r.protocol, r.host, r.port, r.security, r.username) for r in s.rows]
    assert rows == [
        ("IMAP", "imap.mail.ru", 993, "SSL/TLS", "name@mail.ru"),
        ("POP3", "pop.mail.ru", 995, "SSL/TLS", "name@mail.ru"),
        ("SMTP", "smtp.mail.ru", 465, "SSL/TLS", "name@mail.ru"),
    ]


async def test_icloud_has_no_pop3_and_a_short_user_name() -> None:
    s = await lookup_settings("emily@icloud.com")
    assert "POP3" not in {r.protocol for r in s.rows}
    imap = next(r for r in s.rows if r.protocol == "IMAP")
    assert imap.username == "emily" and imap.host == "imap.mail.me.com"
    assert any("app-specific password" in n for n in s.notes)


# -- unknown, bad input ---------------------------------------------------------------------


async def test_unknown_domain_without_network() -> None:
    s = await lookup_settings("someone@unknown-provider.example")
    assert s.source == "unknown" and not s.known and s.rows == []
    assert any(n.startswith("unknown") for n in s.notes)
    assert json.loads(settings_json(s))["source"] == "unknown"


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "@example.org", "a@", "a@localhost", "a b@x.org"]
)
def test_not_an_address(bad: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        split_address(bad)


# -- autoconfig over loopback HTTP -----------------------------------------------------------

AUTOCONFIG = b"""<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example.net">
    <domain>example.net</domain>
    <displayName>Example Net Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.example.net</hostname><port>993</port>
      <socketType>SSL</socketType><username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.net</hostname><port>110</port>
      <socketType>STARTTLS</socketType><username>%EMAILLOCALPART%</username>
    </incomingServer>
    <incomingServer type="exchange"><hostname>x</hostname><port>443</port></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port>
      <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>"""


def _local_discovery(port: int, **kwargs: object) -> Discovery:
    url = f"http://127.0.0.1:{port}/mail/config-v1.1.xml?emailaddress={{address}}&d={{domain}}"

    async def no_srv(name: str, timeout: float) -> list[SrvRecord]:
        return []

    return Discovery(timeout=2.0, autoconfig_urls=(url,), srv=no_srv, **kwargs)  # type: ignore[arg-type]


async def test_autoconfig_from_a_local_http_server() -> None:
    async with http_server(AUTOCONFIG) as port:
        discovery = _local_discovery(port)
        s = await lookup_settings("joe@example.net", discovery=discovery)
    assert s.source == "autoconfig" and s.provider == "Example Net Mail"
    rows = [(r.protocol, r.host, r.port, r.security, r.username, r.note) for r in s.rows]
    assert rows == [
        ("IMAP", "imap.example.net", 993, "SSL/TLS", "joe@example.net", ""),
        ("POP3", "pop.example.net", 110, "STARTTLS", "joe", ""),
        ("SMTP", "smtp.example.net", 587, "STARTTLS", "joe@example.net", "sign-in with OAuth2"),
    ]
    assert "emailaddress=joe@example.net" in s.reference


async def test_autoconfig_404_falls_through_to_unknown() -> None:
    async with http_server(b"nope", status="404 Not Found") as port:
        s = await lookup_settings("joe@example.net", discovery=_local_discovery(port))
    assert s.source == "unknown"
    assert any("neither an autoconfig file nor SRV records" in n for n in s.notes)


async def test_autoconfig_nothing_listening_is_quick() -> None:
    from support.net import free_port

    discovery = _local_discovery(free_port())
    s = await asyncio.wait_for(lookup_settings("joe@example.net", discovery=discovery), 5)
    assert s.source == "unknown"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_autoconfig_never_raises(data: bytes) -> None:
    name, rows = parse_autoconfig(data, "a@b.example")
    assert isinstance(name, str) and isinstance(rows, list)


def test_parse_autoconfig_refuses_entities() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><clientConfig/>'
    assert parse_autoconfig(bomb, "a@b.example") == ("", [])


# -- SRV records (RFC 6186) through a resolver stub --------------------------------------------


async def test_srv_records_from_a_stub() -> None:
    answers = {
        "_imaps._tcp.example.com": [
            SrvRecord(10, 0, 993, "imap2.example.com"),
            SrvRecord(0, 5, 993, "imap1.example.com"),
        ],
        "_imap._tcp.example.com": [SrvRecord(0, 0, 0, ".")],  # RFC 6186 §3.4: not offered
        "_submission._tcp.example.com": [SrvRecord(0, 1, 587, "smtp.example.com")],
    }
    asked: list[str] = []

    async def srv(name: str, timeout: float) -> list[SrvRecord]:
        asked.append(name)
        return answers.get(name, [])

    async def no_fetch(url: str, timeout: float) -> bytes | None:
        return None

    discovery = Discovery(timeout=1.0, fetch=no_fetch, srv=srv)
    s = await lookup_settings("joe@example.com", discovery=discovery)
    assert s.source == "srv"
    rows = [(r.protocol, r.host, r.port, r.security) for r in s.rows]
    assert rows == [
        ("IMAP", "imap1.example.com", 993, "SSL/TLS"),
        ("SMTP", "smtp.example.com", 587, "STARTTLS"),
    ]
    assert "_pop3s._tcp.example.com" in asked and "_submissions._tcp.example.com" in asked
    assert discovery.tried[0].startswith("https://autoconfig.example.com/")


async def test_hanging_lookups_are_cut_off() -> None:
    async def hang_fetch(url: str, timeout: float) -> bytes | None:
        await asyncio.sleep(60)
        return None

    async def hang_srv(name: str, timeout: float) -> list[SrvRecord]:
        await asyncio.sleep(60)
        return []

    discovery = Discovery(
        timeout=0.05, fetch=hang_fetch, srv=hang_srv, autoconfig_urls=("http://x/{domain}",)
    )
    s = await asyncio.wait_for(lookup_settings("joe@example.com", discovery=discovery), 5)
    assert s.source == "unknown"


async def test_failing_stubs_count_as_no_answer() -> None:
    async def broken(name: str, timeout: float) -> list[SrvRecord]:
        raise RuntimeError("resolver exploded")

    async def no_fetch(url: str, timeout: float) -> bytes | None:
        return None

    s = await lookup_settings("j@example.com", discovery=Discovery(fetch=no_fetch, srv=broken))
    assert s.source == "unknown"


# -- the command ------------------------------------------------------------------------------


async def test_cli_settings_json_and_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTFACH_CONFIG", raising=False)
    status, out = await run_cli(["settings", "ivan@rambler.ru", "--json"])
    assert status == 0
    data = json.loads(out)
    assert data["provider"] == "Rambler" and data["servers"][0]["server"] == "imap.rambler.ru"
    status, out = await run_cli(["settings", "ivan@rambler.ru"])
    assert status == 0 and "imap.rambler.ru" in out and "993" in out and "SSL/TLS" in out
    status, out = await run_cli(["settings", "x@unknown-provider.example", "--no-network"])
    assert status == 1 and "unknown" in out
    assert not (tmp_path / "data").exists()  # no config: no store made


async def test_cli_settings_for_an_own_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "postfach.toml").write_text(
        '[server]\nhostname = "mail.example.org"\n'
        '[storage]\nurl = "sqlite:///data/postfach.db"\n'
        '[listeners]\nimaps = "0.0.0.0:993"\nimap = ""\npop3 = ""\npop3s = ""\n'
        'submission = "0.0.0.0:587"\nsubmissions = ""\n'
    )
    status, out = await run_cli(["domain", "add", "example.org"])
    assert status == 0, out
    status, out = await run_cli(["settings", "ann@example.org", "--json"])
    assert status == 0, out
    data = json.loads(out)
    assert data["source"] == "postfach"
    assert [(s["server"], s["port"], s["security"]) for s in data["servers"]] == [
        ("mail.example.org", 993, "SSL/TLS"),
        ("mail.example.org", 587, "STARTTLS"),
    ]


# -- what the doctor checks when no servers are given -------------------------------------


async def test_doctor_targets_from_own_settings(tmp_path: Path, store: Store) -> None:
    from postfach.clientsetup import Target, targets_from_settings

    await store.accounts.add_domain("example.org")
    s = await lookup_settings("ann@example.org", config=_config(tmp_path), store=store)
    assert targets_from_settings(s) == [
        Target("IMAP", "mx.example.org", 993, "SSL/TLS", "ann@example.org"),
        Target("POP3", "mx.example.org", 995, "SSL/TLS", "ann@example.org"),
        Target("SMTP", "mx.example.org", 465, "SSL/TLS", "ann@example.org"),
    ]
    yandex = targets_from_settings(await lookup_settings("login@yandex.ru"))
    assert [(t.host, t.port, t.username) for t in yandex] == [
        ("imap.yandex.ru", 993, "login"),
        ("pop.yandex.ru", 995, "login"),
        ("smtp.yandex.ru", 465, "login"),
    ]
