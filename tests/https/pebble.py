"""Pebble, Let's Encrypt's test CA (Debian's `pebble`), on loopback for one test.

Its validation authority really connects: `httpPort` and `tlsPort` point at the
server's http and https listeners, and names resolve through `-dnsserver`, a
loopback zone (tests/support/dnszone.py) that maps every name to 127.0.0.1.
`Pebble.root_pem()` is the root its certificates chain to (the management API).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postfach.net.tls import make_self_signed
from support.net import free_port

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
START_TIMEOUT = 30.0

needs_pebble = pytest.mark.skipif(
    not Path(PEBBLE).exists(), reason="pebble (Debian package) is not installed"
)


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    ca_bundle: Path  # pebble's own HTTPS certificate, for [acme] ca_bundle
    management: str
    log: Path

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(self.management + path, context=context) as response:
            return str(response.read().decode())

    def root_pem(self) -> str:
        return self._get("/roots/0")

    def intermediate_pem(self) -> str:
        return self._get("/intermediates/0")


@contextlib.contextmanager
def run_pebble(work: Path, http_port: int, tls_port: int, dns_address: str) -> Iterator[Pebble]:
    work.mkdir(parents=True, exist_ok=True)
    cert, key = work / "pebble-cert.pem", work / "pebble-key.pem"
    make_self_signed(cert, key, "localhost")
    port, management = free_port(), free_port()
    config = work / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{port}",
                    "managementListenAddress": f"127.0.0.1:{management}",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": tls_port,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce: each order is one try
        "PEBBLE_AUTHZREUSE": "0",  # every order is validated again
    }
    log = work / "pebble.log"
    process = subprocess.Popen(
        [PEBBLE, "-config", str(config), "-dnsserver", dns_address],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    ready = threading.Event()

    def follow() -> None:
        assert process.stdout is not None
        with log.open("w") as out:
            for line in process.stdout:
                out.write(line)
                out.flush()
                if "ACME directory available" in line:
                    ready.set()
        ready.set()  # it ended: the wait below sees it

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    try:
        if not ready.wait(START_TIMEOUT) or process.poll() is not None:
            raise AssertionError(f"pebble did not start: {log.read_text()[-2000:]}")
        yield Pebble(
            directory=f"https://127.0.0.1:{port}/dir",
            ca_bundle=cert,
            management=f"https://127.0.0.1:{management}",
            log=log,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
