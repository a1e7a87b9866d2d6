"""`postfach sieve ...` run as a real process: scripts checked before they are
stored, listed, activated, shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import postfach_ok as ok
from support.cli import run_postfach as run


@pytest.mark.timeout(600)  # ten processes, each starting Python: slow on a loaded machine
def test_sieve_commands(tmp_path: Path) -> None:
    ok(tmp_path, "init", "--data-dir", "D", "--domain", "example.org")
    ok(tmp_path, "user", "add", "a@example.org", "--password-stdin", stdin="pw-123456\n")
    (tmp_path / "rules.sieve").write_text('require "fileinto";\nfileinto "Trash";\n')
    out = ok(tmp_path, "sieve", "put", "a@example.org", "rules", "rules.sieve", "--activate")
    assert out.strip() == "stored rules for a@example.org, active"
    ok(tmp_path, "sieve", "put", "a@example.org", "other", "-", stdin="keep;\n")
    assert ok(tmp_path, "sieve", "list", "a@example.org").splitlines() == [
        "other  6 bytes",
        "rules  38 bytes  active",
    ]
    assert ok(tmp_path, "sieve", "show", "a@example.org", "other") == "keep;\n"
    assert ok(tmp_path, "sieve", "activate", "a@example.org").strip() == (
        "active for a@example.org: none"
    )
    assert "active" not in ok(tmp_path, "sieve", "list", "a@example.org")

    bad = run(tmp_path, "sieve", "put", "a@example.org", "bad", "-", stdin='keep;\nfileinto "x";')
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'postfach: standard input: line 2, column 1: the command fileinto needs require "fileinto"'
    )
    missing = run(tmp_path, "sieve", "activate", "a@example.org", "nope")
    assert missing.returncode == 1 and "has no script 'nope'" in missing.stderr
