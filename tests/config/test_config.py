"""The configuration file: defaults, types, one-line errors, public names and ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from postfach.clientsetup.own import own_settings
from postfach.config import ConfigError, config_from_dict, dev_config, load_config


def test_every_key_has_a_default() -> None:
    config = config_from_dict({}, "built-in defaults")
    assert config.server.hostname == "mail.example.org"
    assert config.retention.trash_days == 30 and config.retention.spam_days == 10
    assert not config.auth.allow_plaintext
    names = [s.name for s in config.listeners_enabled()]
    assert names == [
        "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https",
        "managesieve",
    ]  # fmt: skip
    assert {s.name: s.port for s in config.listeners_enabled()}["imaps"] == 993


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"server": {"hostnme": "x"}}, "f.toml: unknown key server.hostnme"),
        ({"nosuch": {}}, "f.toml: unknown section [nosuch]"),
        ({"retention": {"trash_days": "long"}}, "retention.trash_days = 'long': expected float"),
        ({"auth": {"allow_plaintext": 1}}, "auth.allow_plaintext = 1: expected bool"),
        ({"limits": {"max_recipients": -1}}, "limits.max_recipients = -1: expected int"),
        ({"listeners": {"imap": "localhost"}}, "listeners.imap = 'localhost': expected HOST:PORT"),
        ({"transport": {"example.net": "nowhere"}}, "transport.example.net"),
        ({"public_ports": {"imap4": 143}}, "unknown key public_ports.imap4"),
        ({"public_ports": {"imaps": 0}}, "public_ports.imaps = 0: expected a port number"),
        ({"server": "x"}, "[server] must be a table"),
    ],
)
def test_bad_values_name_key_and_file(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(data, "f.toml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "postfach.toml"
    path.parent.mkdir()
    path.write_text('[server]\ndata_dir = "d"\n[storage]\nurl = "sqlite:///d/x.db"\n')
    config = load_config(str(path))
    assert config.server.data_dir == str((tmp_path / "etc" / "d").resolve())
    assert config.storage.url == f"sqlite:///{(tmp_path / 'etc' / 'd' / 'x.db').resolve()}"
    with pytest.raises(ConfigError, match="no such file"):
        load_config(str(tmp_path / "missing.toml"))
    (tmp_path / "broken.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_config(str(tmp_path / "broken.toml"))


def test_public_name_and_ports_reach_the_client_settings() -> None:
    config = config_from_dict(
        {
            "server": {"hostname": "internal.lan", "public_name": "mail.example.org"},
            "listeners": {"imaps": "0.0.0.0:10993", "pop3": "", "pop3s": ""},
            "public_ports": {"imaps": 993},
        },
        "f.toml",
    )
    rows = {(s.protocol, s.security): s for s in own_settings(config, "a@example.org")}
    assert rows[("IMAP", "SSL/TLS")].host == "mail.example.org"
    assert rows[("IMAP", "SSL/TLS")].port == 993
    assert rows[("IMAP", "STARTTLS")].port == 143
    assert not any(s.protocol == "POP3" for s in rows.values())


def test_dev_config_uses_high_loopback_ports(tmp_path: Path) -> None:
    config = dev_config(tmp_path)
    ports = {s.name: (s.host, s.port) for s in config.listeners_enabled()}
    assert ports == {
        "smtp": ("127.0.0.1", 1025),
        "submission": ("127.0.0.1", 1587),
        "submissions": ("127.0.0.1", 1465),
        "imap": ("127.0.0.1", 1143),
        "imaps": ("127.0.0.1", 1993),
        "pop3": ("127.0.0.1", 1110),
        "pop3s": ("127.0.0.1", 1995),
        "http": ("127.0.0.1", 8025),
        "https": ("127.0.0.1", 8443),
        "managesieve": ("127.0.0.1", 14190),
    }
    assert config.auth.allow_plaintext and config.dev


def test_every_key_is_documented_and_in_the_init_template() -> None:
    """README's reference and `postfach init`'s file stay true to the code."""
    import dataclasses
    import re

    from postfach.cli.init import TEMPLATE
    from postfach.config import Config

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = []
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if not dataclasses.is_dataclass(value):
            continue
        for key in dataclasses.fields(value):
            if f"`{section.name}.{key.name}`" not in readme and key.name not in readme:
                missing.append(f"README: {section.name}.{key.name}")
            if not re.search(rf"^{key.name} = ", TEMPLATE, re.MULTILINE):
                missing.append(f"init template: {section.name}.{key.name}")
    assert missing == []
    assert config_from_dict({}, "x").server == load_config_from_template().server


def load_config_from_template():  # type: ignore[no-untyped-def]
    import tomllib

    from postfach.cli.init import render_config

    return config_from_dict(tomllib.loads(render_config("mail.example.org", "data")), "x")
