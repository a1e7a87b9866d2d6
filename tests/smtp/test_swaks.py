"""swaks (Debian's SMTP test tool) against each listener; skipped where it is not installed."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from harness import TestServer

from .smtpmailbox import messages_in

SWAKS = shutil.which("swaks")
pytestmark = pytest.mark.skipif(
    SWAKS is None, reason="swaks is not installed (apt-get install swaks)"
)


async def swaks(*args: str) -> tuple[int, str]:
    assert SWAKS is not None
    proc = await asyncio.create_subprocess_exec(
        SWAKS,
        "--timeout",
        "10",
        "--helo",
        "swaks.example",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode("utf-8", "replace")


def server_arg(server: TestServer, listener: str) -> list[str]:
    return ["--server", f"{server.host}:{server.port(listener)}"]


async def test_swaks_mx_and_relay_denied(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    code, out = await swaks(
        "--from", "x@sender.test", "--to", "b@example.org", *server_arg(server, "smtp")
    )
    assert code == 0, out
    assert len(await messages_in(server.ctx.store, "b@example.org")) == 1
    code, out = await swaks(
        "--from", "x@sender.test", "--to", "x@elsewhere.test", *server_arg(server, "smtp")
    )
    assert code != 0 and "554 5.7.1 Relay access denied" in out


async def test_swaks_submission_starttls_auth(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")
    for auth in ("PLAIN", "LOGIN"):
        code, out = await swaks(
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--tls",
            "--auth",
            auth,
            "--auth-user",
            "a@example.org",
            "--auth-password",
            "pw",
            *server_arg(server, "submission"),
        )
        assert code == 0, out
    code, out = await swaks(
        "--from", "a@example.org", "--to", "b@example.org", *server_arg(server, "submission")
    )
    assert "530 5.7.0 Authentication required" in out
    code, out = await swaks(
        "--from",
        "a@example.org",
        "--to",
        "b@example.org",
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "a@example.org",
        "--auth-password",
        "wrong",
        *server_arg(server, "submission"),
    )
    assert "535 5.7.8" in out


async def test_swaks_submissions_and_sender_check(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")
    code, out = await swaks(
        "--from",
        "b@example.org",
        "--to",
        "b@example.org",
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "a@example.org",
        "--auth-password",
        "pw",
        *server_arg(server, "submissions"),
    )
    assert "553 5.7.1 Sender address rejected: not owned by auth user" in out
    code, out = await swaks(
        "--from",
        "a@example.org",
        "--to",
        "b@example.org",
        "--tlsc",
        "--pipeline",
        "--auth",
        "PLAIN",
        "--auth-user",
        "a@example.org",
        "--auth-password",
        "pw",
        *server_arg(server, "submissions"),
    )
    assert code == 0, out


async def test_swaks_devices_plaintext(server: TestServer) -> None:
    await server.add_user("a@example.org", "pw")
    code, out = await swaks(
        "--from",
        "a@example.org",
        "--to",
        "a@example.org",
        "--auth",
        "LOGIN",
        "--auth-user",
        "a@example.org",
        "--auth-password",
        "pw",
        *server_arg(server, "devices"),
    )
    assert code == 0, out
    code, out = await swaks(
        "--from",
        "a@example.org",
        "--to",
        "x@elsewhere.test",
        "--auth",
        "LOGIN",
        "--auth-user",
        "a@example.org",
        "--auth-password",
        "pw",
        *server_arg(server, "devices"),
    )
    assert "550 5.7.1" in out and "only to local domains" in out
