"""The supervisor of `serve --workers 2` only accepts, hands over and watches: it
must not load the stacks its workers serve with (cli/serve.py, workers.py).

Its whole life is checked, from the start (when a child prepares the schema)
until it stops: the modules it imported, written by an atexit hook as it
exits, and the shared libraries mapped by the running process.
"""

from __future__ import annotations

import asyncio
import imaplib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import BACKENDS, storage_url
from support.serve import prepare_user

USER = "alice@example.org"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

# Third-party packages only workers need: the store's SQL toolkit and drivers, the
# web stack, mail authentication, metrics, password hashing, X.509.
HEAVY = {
    "aiosqlite",
    "argon2",
    "asyncpg",
    "cryptography",
    "dkim",
    "dns",
    "httpx",
    "jinja2",
    "prometheus_client",
    "sqlalchemy",
    "starlette",
    "uvicorn",
}
# postfach's own packages that serve or store: a worker's part.
WORKER_PARTS = (
    "postfach.app",
    "postfach.auth",
    "postfach.cli.serve_app",
    "postfach.imap",
    "postfach.managesieve",
    "postfach.net.tls",
    "postfach.pop3",
    "postfach.queue",
    "postfach.mailing",
    "postfach.smtp",
    "postfach.store.base",
    "postfach.store.store",
    "postfach.web",
)
# What the running supervisor must not map (C extensions of the packages above).
HEAVY_LIBRARIES = ("_rust.abi3.so", "_argon2_cffi_bindings", "_cffi_backend", "asyncpg")

RUN = """
import atexit, sys
def dump():
    with open(sys.argv[1], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(dump)
from postfach.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[storage]\nurl = "{url}"\n'
        '[listeners]\nimap = "127.0.0.1:0"\npop3 = "127.0.0.1:0"\nsmtp = "127.0.0.1:0"\n'
        'submission = "127.0.0.1:0"\nimaps = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n'
        'submissions = ""\npop3s = ""\ndevices = ""\nhttps = ""\nmanagesieve = ""\n'
        "[auth]\nallow_plaintext = true\n"
    )
    return config


@pytest.mark.parametrize("backend", BACKENDS)
def test_supervisor_loads_no_worker_stack(tmp_path: Path, backend: str) -> None:
    url = asyncio.run(storage_url(backend, tmp_path))
    asyncio.run(prepare_user(url, USER, PASSWORD))
    dump = tmp_path / "modules.txt"
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, str(dump), "serve", "--config", str(_config(tmp_path, url)),
         "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "serve.log").open("w"),
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = 0
        for line in process.stdout:
            words = line.split()
            if len(words) == 2 and words[0] == "imap":
                port = int(words[1].rsplit(":", 1)[1])
            if line.startswith("stop with"):
                break
        assert port, (tmp_path / "serve.log").read_text()[-2000:]
        client = imaplib.IMAP4("127.0.0.1", port, timeout=10)  # served: the workers work
        client.login(USER, PASSWORD)
        client.logout()
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        mapped = [lib for lib in HEAVY_LIBRARIES if lib in maps]
        assert mapped == [], f"the supervisor maps {mapped}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0
    modules = dump.read_text().split()
    assert "postfach.workers" in modules  # the dump is the supervisor's
    assert sorted({m.split(".")[0] for m in modules} & HEAVY) == []
    assert [m for m in modules if m.startswith(WORKER_PARTS)] == []
