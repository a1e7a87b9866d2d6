"""The operator's command line, run as a real process."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import postfach_ok as ok
from support.cli import run_postfach as run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("cli")
    out = ok(cwd, "init", "--data-dir", "D", "--domain", "example.org")
    assert "wrote postfach.toml" in out
    return cwd


def test_init_writes_config_database_and_certificate(workdir: Path) -> None:
    text = (workdir / "postfach.toml").read_text()
    assert 'hostname = "mail.example.org"' in text and "[retention]" in text
    assert (workdir / "D" / "postfach.db").exists()
    assert (workdir / "D" / "tls" / "cert.pem").exists()
    assert "exists already" in run(workdir, "init").stderr


def test_operator_workflow(workdir: Path) -> None:
    assert ok(workdir, "domain", "list").startswith("example.org  accounts=0")
    secret = "correct horse battery staple"
    out = ok(workdir, "user", "add", "a@example.org", "--password-stdin", stdin=secret + "\n")
    assert "added a@example.org" in out and secret not in out
    out = ok(workdir, "user", "set", "a@example.org", "pop3=off", "pop3-delete=trash")
    assert "pop3=off" in out and "pop3-delete=trash" in out
    assert "sales@example.org -> a@example.org" in ok(
        workdir, "alias", "add", "sales@example.org", "a@example.org"
    )
    out = ok(workdir, "app-password", "add", "a@example.org", "--name", "phone")
    generated = out.strip().splitlines()[-1]
    assert len(generated) == 19 and generated.count("-") == 3
    assert "phone" in ok(workdir, "app-password", "list", "a@example.org")
    listing = ok(workdir, "user", "list")
    assert "a@example.org" in listing and "imap=on pop3=off" in listing
    assert "sales@example.org -> a@example.org" in ok(workdir, "alias", "list")
    assert "ended every session" in ok(workdir, "logout-everywhere", "a@example.org")
    ok(workdir, "user", "passwd", "a@example.org", "--password-stdin", stdin="new-secret\n")
    ok(workdir, "app-password", "revoke", "a@example.org", "--name", "phone")
    # The database never holds a password in the clear.
    raw = (workdir / "D" / "postfach.db").read_bytes()
    assert secret.encode() not in raw and b"new-secret" not in raw
    assert generated.encode() not in raw


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "add", "not-an-address", "--password-stdin"), "not an address"),
        (("user", "add", "x@other.org", "--password-stdin"), "no domain other.org"),
        (("user", "set", "nobody@example.org", "imap=off"), "no account nobody@example.org"),
        (("user", "set", "a@example.org", "imap=maybe"), "expected on or off"),
        (("user", "set", "a@example.org", "colour=blue"), "unknown setting"),
        (("user", "set", "a@example.org", "pop3-folders=INBOX,Nope"), "no folder 'Nope'"),
        (("user", "set", "a@example.org", "quota=lots"), "not a size"),
        (("alias", "remove", "none@example.org"), "no alias"),
        (("domain", "remove", "example.org"), "still has"),
    ],
)
def test_errors_are_one_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    result = run(workdir, *args, stdin="long enough pw\n")
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_config_names_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "postfach.toml").write_text("[server]\nhostname = 5\n")
    result = run(tmp_path, "domain", "list")
    assert result.returncode == 1
    assert result.stderr.strip() == ("postfach: postfach.toml: server.hostname = 5: expected str")
    (tmp_path / "postfach.toml").write_text('[listeners]\nimap = "nowhere"\n')
    assert "listeners.imap" in run(tmp_path, "domain", "list").stderr
    (tmp_path / "postfach.toml").write_text("[colour]\n")
    assert "unknown section [colour]" in run(tmp_path, "domain", "list").stderr


def test_help_lists_commands(tmp_path: Path) -> None:
    out = ok(tmp_path, "--help")
    for command in ("init", "serve", "domain", "user", "alias", "app-password"):
        assert command in out
