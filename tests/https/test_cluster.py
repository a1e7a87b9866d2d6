"""Two nodes on one PostgreSQL database, each with its own data_dir: one orders
(holding the cluster's lease), the CA's HTTP-01 request lands on the other, which
answers from the store, then takes the certificate and serves it."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from harness import PG_URL, make_server, server_config_dict
from postfach.acme.renewal import LEASE, copy_shared
from postfach.app import App
from postfach.config import config_from_dict
from support.dnszone import Zone, serve_zone
from support.net import free_port

from .pebble import needs_pebble, run_pebble
from .site import HOST, NAMES, names_of, tls_cert

pytestmark = [
    needs_pebble,
    pytest.mark.skipif(not PG_URL, reason="a cluster needs PostgreSQL (POSTFACH_TEST_PG)"),
]


async def test_one_node_orders_another_answers_the_ca_and_serves_the_certificate(tmp_path):
    ports = {name: free_port() for name in ("a_http", "a_https", "b_http", "b_https")}
    zone = Zone()
    for name in NAMES:
        zone.add(name, "A", "127.0.0.1")
    with serve_zone(zone) as zone:
        # The CA reaches node B only, as if the name's address were B's.
        b_http, b_https = ports["b_http"], ports["b_https"]
        with run_pebble(tmp_path / "pebble", b_http, b_https, zone.address) as pebble:
            acme = {
                "enabled": True,
                "directory": pebble.directory,
                "ca_bundle": str(pebble.ca_bundle),
                "challenges": ["http-01"],
                "check_interval": 86400.0,
            }
            async with make_server(
                tmp_path / "a",
                "postgresql",
                server={"hostname": HOST},
                listeners={"http": f"127.0.0.1:{ports['a_http']}",
                           "https": f"127.0.0.1:{ports['a_https']}"},
                acme=acme,
            ) as node_a:  # fmt: skip
                data = server_config_dict(
                    tmp_path / "b",
                    PG_URL,
                    server={"hostname": HOST},
                    listeners={"http": f"127.0.0.1:{ports['b_http']}",
                               "https": f"127.0.0.1:{ports['b_https']}"},
                )  # fmt: skip
                node_b = App(config_from_dict(data, "node b"))  # ACME off: it only answers
                await node_b.start()
                try:
                    renewal = node_a.app.cert_renewal
                    assert renewal is not None
                    store = node_a.ctx.store
                    # After A's check at start (B was not up yet: it may have failed),
                    # what is still due is ordered now, B answering the CA.
                    result = await renewal.run_once()
                    assert result.failed == [], pebble.log.read_text()[-3000:]
                    assert not result.busy
                    issued = tmp_path / "a" / "data" / "tls" / "certs" / f"{HOST}.pem"
                    assert issued.exists()
                    assert await store.tls_files.tls_files_under("http-01/") == {}  # withdrawn
                    shared = await store.tls_files.tls_files_under("certs/")
                    assert shared[f"certs/{HOST}.pem"] == issued.read_bytes()

                    # while another node holds the lease, A orders nothing
                    assert await store.locks.try_lock(LEASE, "another node", 60)
                    held = await renewal.run_once(force=True)
                    assert held.busy and held.issued == []
                    await store.locks.unlock(LEASE, "another node")

                    trust = ssl.create_default_context(cadata=pebble.root_pem())
                    on_a = await asyncio.to_thread(tls_cert, ports["a_https"], HOST, trust)
                    copied = await copy_shared(node_b.config, node_b.ctx.store)
                    assert tmp_path / "b" / "data" / "tls" / "certs" / f"{HOST}.pem" in copied
                    on_b = await asyncio.to_thread(tls_cert, ports["b_https"], HOST, trust)
                    assert on_b.serial_number == on_a.serial_number
                    assert names_of(on_b) == {HOST}
                    assert await copy_shared(node_b.config, node_b.ctx.store) == []  # same now
                finally:
                    await node_b.stop()
