"""A server at a real-looking name with http, https and ACME against pebble, and
TLS clients that say which certificate they got."""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from harness import TestServer, make_server
from support.dnszone import Zone, serve_zone
from support.net import free_port

from .pebble import Pebble, run_pebble

HOST = "mail.test.example"
DOMAIN = "test.example"
NAMES = (HOST, *(f"{sub}.{domain}" for sub in ("autoconfig", "autodiscover", "mta-sts")
                 for domain in (DOMAIN, "example.org")))  # fmt: skip


@dataclass
class Site:
    server: TestServer
    pebble: Pebble
    tmp_path: Path

    @property
    def data(self) -> Path:
        return Path(self.server.ctx.config.server.data_dir)

    def trust(self) -> ssl.SSLContext:
        """A client context trusting pebble's root, checking host names."""
        context = ssl.create_default_context(cadata=self.pebble.root_pem())
        return context

    async def renew(self) -> None:
        renewal = self.server.app.cert_renewal
        assert renewal is not None
        result = await renewal.run_once()
        assert result.failed == [], result.failed + [self.pebble.log.read_text()[-3000:]]
        assert not result.busy


@contextlib.asynccontextmanager
async def acme_site(
    tmp_path: Path,
    backend: str = "sqlite",
    challenges: tuple[str, ...] = ("http-01",),
    *,
    http: bool = True,
) -> AsyncIterator[Site]:
    """The server with its names in a loopback zone, pebble validating against its
    http and https listeners, and every certificate issued before it is yielded.
    Without `http` there is no port 80 listener (TLS-ALPN-01 alone can succeed)."""
    http_port, https_port = free_port(), free_port()
    zone = Zone()
    for name in NAMES:
        zone.add(name, "A", "127.0.0.1")
    with serve_zone(zone) as zone:
        with run_pebble(tmp_path / "pebble", http_port, https_port, zone.address) as pebble:
            async with make_server(
                tmp_path,
                backend,
                server={"hostname": HOST},
                listeners={
                    "http": f"127.0.0.1:{http_port}" if http else "",
                    "https": f"127.0.0.1:{https_port}",
                },
                acme={
                    "enabled": True,
                    "email": f"postmaster@{DOMAIN}",
                    "directory": pebble.directory,
                    "ca_bundle": str(pebble.ca_bundle),
                    "challenges": list(challenges),
                    "check_interval": 86400.0,
                },
            ) as server:
                await server.ctx.store.accounts.add_domain(DOMAIN)
                site = Site(server, pebble, tmp_path)
                await site.renew()  # after the start's own check: the new domain's too
                yield site


def peer_cert(sock: ssl.SSLSocket | ssl.SSLObject) -> x509.Certificate:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def tls_cert(port: int, server_name: str | None, context: ssl.SSLContext) -> x509.Certificate:
    """The certificate a bare TLS handshake on 127.0.0.1:port gets (None: no SNI)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return peer_cert(tls)


def imaps_client(port: int, server_name: str, context: ssl.SSLContext) -> imaplib.IMAP4_SSL:
    """IMAPS to 127.0.0.1 asking for `server_name` (imaplib takes the host for both)."""

    class Named(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout: Any) -> socket.socket:
            raw = socket.create_connection(("127.0.0.1", port), timeout)
            return context.wrap_socket(raw, server_hostname=server_name)

    return Named(server_name, port, ssl_context=context, timeout=10)


def smtp_starttls_cert(port: int, server_name: str, context: ssl.SSLContext) -> x509.Certificate:
    """The certificate submission's STARTTLS presents for `server_name`."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp._host = server_name  # what starttls() sends as SNI and checks the name against
        smtp.starttls(context=context)
        assert isinstance(smtp.sock, ssl.SSLSocket)
        return peer_cert(smtp.sock)


def names_of(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))
