"""Real ManageSieve clients over STARTTLS: Debian's sieve-connect and sievelib's
client upload, list, check, activate, download and delete scripts, on each backend.

Both verify the server's certificate: they are given the test server's
self-signed certificate as their CA and "localhost" (one of its names) as the
host name to check, so TLS is real, not switched off.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import TestServer
from postfach.net.tls import cert_paths

from .helpers import GOOD_SCRIPT, PASSWORD, USER

BAD_SCRIPT = 'require "fileinto";\nfileinto "x"\n'


async def _active(server: TestServer) -> tuple[str, str] | None:
    account = await server.ctx.store.accounts.get_account(USER)
    assert account is not None
    return await server.ctx.store.sieve.active_script(account.id)


# -- sievelib --------------------------------------------------------------------


def _sievelib_session(port: int) -> dict[str, object]:
    from sievelib.managesieve import Client

    client = Client("127.0.0.1", port, srvhostname="localhost")
    seen: dict[str, object] = {}
    assert client.connect(USER, PASSWORD, starttls=True, authmech="PLAIN"), client.errmsg
    seen["implementation"] = client.get_implementation()
    seen["extensions"] = client.get_sieve_capabilities()
    assert client.putscript("lists", GOOD_SCRIPT.replace("\r\n", "\n"))
    assert client.putscript("spare", "keep;\n")
    seen["bad"] = client.putscript("broken", BAD_SCRIPT)
    seen["bad_message"] = client.errmsg.decode()
    seen["check_good"] = client.checkscript("stop;\n")
    seen["check_bad"] = client.checkscript(BAD_SCRIPT)
    assert client.havespace("lists", 100)
    assert client.setactive("lists")
    seen["listing"] = client.listscripts()
    seen["script"] = client.getscript("lists")
    seen["delete_active"] = client.deletescript("lists")
    seen["delete_active_code"] = client.errcode.decode()
    assert client.renamescript("spare", "spare2")
    assert client.deletescript("spare2")
    seen["after"] = client.listscripts()
    client.logout()
    return seen


async def test_sievelib_client(
    tls_only_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sievelib")
    cert, _key = cert_paths(tls_only_server.ctx.config)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # sievelib's TLS trusts the default CAs
    seen = await asyncio.to_thread(_sievelib_session, tls_only_server.port("managesieve"))
    assert seen["implementation"] == "postfach"
    assert "fileinto" in seen["extensions"]  # type: ignore[operator]
    assert seen["bad"] is False and str(seen["bad_message"]).startswith("line 3, column 1:")
    assert seen["check_good"] is True and seen["check_bad"] is False
    assert seen["listing"] == ("lists", ["spare"])
    assert seen["script"] == GOOD_SCRIPT.replace("\r\n", "\n").rstrip("\n")
    assert seen["delete_active"] is False and seen["delete_active_code"] == "ACTIVE"
    assert seen["after"] == ("lists", [])
    active = await _active(tls_only_server)
    assert active is not None and active[0] == "lists"


# -- sieve-connect ---------------------------------------------------------------


def _sieve_connect(server: TestServer, *args: str | Path) -> subprocess.CompletedProcess[str]:
    cert, _key = cert_paths(server.ctx.config)
    command = [
        "sieve-connect", "--nosrv", "--server", "127.0.0.1",
        "--port", str(server.port("managesieve")), "--user", USER, "--passwordfd", "0",
        "--authmech", "PLAIN", "--tlscafile", str(cert), "--tlshostname", "localhost",
        "--noclearauth", *map(str, args),
    ]  # fmt: skip
    return subprocess.run(
        command, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("sieve-connect") is None, reason="sieve-connect not installed")
async def test_sieve_connect(tls_only_server: TestServer, tmp_path: Path) -> None:
    server = tls_only_server
    good, bad = tmp_path / "good.siv", tmp_path / "bad.siv"
    good.write_text(GOOD_SCRIPT.replace("\r\n", "\n"))
    bad.write_text(BAD_SCRIPT)

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return _sieve_connect(server, *args)

    uploaded = await asyncio.to_thread(
        run, "--localsieve", good, "--remotesieve", "mine", "--upload"
    )
    assert uploaded.returncode == 0, uploaded.stderr
    refused = await asyncio.to_thread(run, "--localsieve", bad, "--remotesieve", "b", "--upload")
    assert refused.returncode != 0 and "line 3, column 1" in refused.stderr + refused.stdout
    checked = await asyncio.to_thread(run, "--localsieve", good, "--checkscript")
    assert checked.returncode == 0, checked.stderr
    check_bad = await asyncio.to_thread(run, "--localsieve", bad, "--checkscript")
    assert check_bad.returncode != 0
    assert "line 3, column 1" in check_bad.stderr + check_bad.stdout
    activated = await asyncio.to_thread(run, "--remotesieve", "mine", "--activate")
    assert activated.returncode == 0, activated.stderr
    listed = await asyncio.to_thread(run, "--list")
    assert listed.returncode == 0 and "mine" in listed.stdout
    assert "ACTIVE" in listed.stdout.upper()
    active = await _active(server)
    assert active == ("mine", GOOD_SCRIPT.replace("\r\n", "\n"))
    copy = tmp_path / "copy.siv"
    downloaded = await asyncio.to_thread(
        run, "--localsieve", copy, "--remotesieve", "mine", "--download"
    )
    assert downloaded.returncode == 0 and copy.read_text() == good.read_text()
    refused_delete = await asyncio.to_thread(run, "--remotesieve", "mine", "--delete")
    assert refused_delete.returncode != 0  # the active script stays
    assert (await asyncio.to_thread(run, "--deactivate")).returncode == 0
    assert await _active(server) is None
    deleted = await asyncio.to_thread(run, "--remotesieve", "mine", "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert "mine" not in (await asyncio.to_thread(run, "--list")).stdout
