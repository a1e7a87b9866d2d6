"""`postfach mailing ...` (in a worker thread, and once as a process) against SMTP sinks."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from postfach.cli.main import main
from postfach.mailing.clock import ManualClock
from support.smtpsink import Sink


class Cli:
    """Runs `postfach ...` in a worker thread (the sinks keep serving on the test loop)."""

    def __init__(self, cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
        self.cwd = cwd
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        monkeypatch.chdir(cwd)

    async def run(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        argv = [*args, "--config", str(self.cwd / "postfach.toml")]
        code = await asyncio.to_thread(main, argv)
        out, err = self.capsys.readouterr()
        return code, out, err

    async def ok(self, *args: str, stdin: str = "") -> str:
        code, out, err = await self.run(*args, stdin=stdin)
        assert code == 0, err
        return out


async def test_entry_point_runs_as_a_process(tmp_path: Path):
    env = {**os.environ, "POSTFACH_CONFIG": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postfach", "mailing", "status", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert out.decode() == "no relays\n"


async def test_mailing_commands(tmp_path: Path, capsys, monkeypatch):
    cli = Cli(tmp_path, capsys, monkeypatch)
    clock = ManualClock()
    alpha = await Sink(clock, login="u", password="s3cret-pw").start()
    beta = await Sink(clock).start()
    try:
        await cli.ok("init", "--data-dir", "D", "--domain", "example.org")
        base = ["--host", "127.0.0.1", "--security", "none"]
        out = await cli.ok(
            "mailing", "relay", "add", "alpha", "--sender", "news@alpha.example",
            *base, "--port", str(alpha.port), "--login", "u", "--password-stdin",
            "--hourly", "2", "--daily", "10", stdin="s3cret-pw\n",
        )  # fmt: skip
        assert "relay alpha added" in out
        await cli.ok(
            "mailing", "relay", "add", "beta", "--sender", "news@beta.example",
            *base, "--port", str(beta.port), "--allow-substitution",
        )  # fmt: skip
        code, _, err = await cli.run(
            "mailing", "relay", "add", "gamma", "--sender", "x@y.example",
            "--host", "smtp.y.example", "--port", "25",
        )  # fmt: skip
        assert code == 1 and "port 25 is forbidden" in err
        await cli.ok(
            "mailing", "relay", "add", "wrong", "--sender", "news@alpha.example",
            *base, "--port", str(alpha.port), "--login", "u", "--password-stdin", "--disabled",
            stdin="bad\n",
        )  # fmt: skip

        listing = await cli.ok("mailing", "relay", "list")
        assert "alpha" in listing and "hour=2" in listing and "DISABLED" in listing
        assert "s3cret-pw" not in listing
        assert b"s3cret-pw" not in (tmp_path / "D" / "postfach.db").read_bytes()
        assert (tmp_path / "D" / "mailing.key").stat().st_mode & 0o777 == 0o600

        out = await cli.ok("mailing", "relay", "test", "alpha")
        assert "logged in as u: the relay works" in out
        code, out, _ = await cli.run("mailing", "relay", "test", "wrong")
        assert code == 1 and "refused the login for u: 535" in out and "bad" not in out

        (tmp_path / "people.csv").write_text(
            "Email;First name;city\n"
            "ann@dest.example;Ann;Bonn\n"
            "not-an-address;Bob;Köln\n"
            "ANN@dest.example;;Berlin\n"
            "carl@dest.example;Carl;\n"
            "dora@dest.example;Dora;Ulm\n",
            encoding="utf-8",
        )
        code, out, err = await cli.run("mailing", "list", "import", "people.csv")
        assert code == 0, err
        assert "people.csv:3:" in err and "not-an-address" in err
        assert "3 added, 1 merged" in out and "1 invalid row" in out

        (tmp_path / "body.txt").write_text("Hi {{ contact['First name'] }} from {{ city }}\n")
        await cli.ok(
            "mailing", "campaign", "create", "may", "--list", "people",
            "--subject", "May news", "--text", "body.txt",
            "--from-name", "Shop", "--from-address", "shop@shop.example",
        )  # fmt: skip
        code, out, err = await cli.run("mailing", "send", "may")
        assert code == 0, err
        assert "3 sent, 0 failed" in out
        assert len(alpha.received) == 2 and len(beta.received) == 1
        ann = next(r for r in alpha.received if r.rcpt == "ann@dest.example").message
        assert "Hi Ann from Berlin" in ann.get_body(("plain",)).get_content()
        assert "news@alpha.example" in ann["From"]  # alpha may not substitute
        assert "shop@shop.example" in beta.received[0].message["From"]  # beta may

        show = await cli.ok("mailing", "campaign", "show", "may")
        assert "3 sent" in show and "via alpha" in show and "250 2.0.0 Ok: queued as" in show
        status = await cli.ok("mailing", "status")
        assert "alpha: this hour 2 sent, 0 left; today 2 sent, 8 left, next window" in status
        assert "beta: this hour 1 sent, no limit; today 1 sent, no limit" in status

        out = await cli.ok("mailing", "bounces", "check")
        assert "no bounce mailboxes" in out
        await cli.ok("mailing", "relay", "remove", "wrong")
        code, _, err = await cli.run("mailing", "relay", "remove", "wrong")
        assert code == 1 and "no relay named wrong" in err
    finally:
        await alpha.stop()
        await beta.stop()
