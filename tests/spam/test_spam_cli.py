"""`postfach user set ... spam-file= spam-reject=` and `postfach user sender`, as a real process."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import postfach_ok as ok
from support.cli import run_postfach as run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("spamcli")
    ok(cwd, "init", "--data-dir", "D", "--domain", "example.org")
    assert "[spam]" in (cwd / "postfach.toml").read_text()
    ok(cwd, "user", "add", "a@example.org", "--password-stdin", stdin="a long password\n")
    return cwd


def test_thresholds_and_sender_lists(workdir: Path) -> None:
    out = ok(workdir, "user", "set", "a@example.org", "spam-file=3.5", "spam-reject=12")
    assert out.strip() == "a@example.org: spam-file=3.5 spam-reject=12 allow=- block=-"
    out = ok(workdir, "user", "set", "a@example.org", "spam-file=default", "save-sent=on")
    assert "save-sent=on" in out
    out = ok(workdir, "user", "sender", "a@example.org", "allow", "Friend@Example.NET")
    assert "spam-file=default spam-reject=12 allow=friend@example.net block=-" in out
    out = ok(workdir, "user", "sender", "a@example.org", "block", "ads.test")
    assert "block=ads.test" in out
    out = ok(workdir, "user", "sender", "a@example.org", "remove", "ads.test")
    assert "block=-" in ok(workdir, "user", "sender", "a@example.org", "list")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "set", "a@example.org", "spam-file=lots"), "expected a score"),
        (("user", "set", "a@example.org", "spam-reject=nan"), "expected a finite score"),
        (("user", "sender", "a@example.org", "allow", "not a domain"), "expected an address"),
        (("user", "sender", "a@example.org", "block"), "name an address or a domain"),
        (("user", "sender", "a@example.org", "remove", "never.test"), "on neither list"),
        (("user", "sender", "nobody@example.org", "list"), "no account nobody@example.org"),
    ],
)
def test_errors_are_one_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    result = run(workdir, *args)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
