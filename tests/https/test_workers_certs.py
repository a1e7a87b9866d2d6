"""`serve --workers 2`: a certificate file replaced in data_dir/tls/certs reaches
every worker's next handshake (no signal, no restart), while a session opened
before keeps its connection."""

from __future__ import annotations

import asyncio
import imaplib
import ssl

from support.net import free_port, insecure_tls_context
from support.serve import prepare_user, start_serve

from .site import tls_cert
from .test_listeners import _write_issued

PASSWORD = "correct horse battery"
NAME = "mail.example.org"


def test_every_worker_serves_a_replaced_certificate(tmp_path):
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare_user(url, "ann@example.org", PASSWORD))
    data = tmp_path / "data"
    https = free_port()
    off = "\n".join(
        f'{n} = ""'
        for n in ("smtp", "submission", "imap", "pop3", "pop3s", "devices", "managesieve")
    )
    config = tmp_path / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "{NAME}"\ndata_dir = "{data}"\n[storage]\nurl = "{url}"\n'
        f'[listeners]\nimaps = "127.0.0.1:0"\nsubmissions = "127.0.0.1:0"\n'
        f'http = "127.0.0.1:0"\nhttps = "127.0.0.1:{https}"\n{off}\n'
    )
    certs = data / "tls" / "certs"
    first = _write_issued(certs / f"{NAME}.pem", NAME)
    process, ports = start_serve(config, tmp_path / "serve.log", workers=2)
    try:
        unchecked = insecure_tls_context()
        imaps = ports["imaps"]
        # Connections are spread over both workers (the one with fewest open gets the
        # next): four held open at once cover each worker twice.
        held = [_login(imaps, unchecked) for _ in range(4)]
        for client in held:
            assert _serial(client) == first

        second = _write_issued(certs / f"{NAME}.pem", NAME)
        fresh = [_login(imaps, unchecked) for _ in range(4)]
        for client in fresh:
            assert _serial(client) == second
        for port in (ports["submissions"], https):
            assert tls_cert(port, NAME, unchecked).serial_number == second
        for client in held:  # opened before: still served on the old certificate
            assert client.noop()[0] == "OK"
            assert _serial(client) == first
        for client in held + fresh:
            client.logout()
    finally:
        process.terminate()
        process.wait(30)


def _login(port: int, context: ssl.SSLContext) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=10)
    client.login("ann@example.org", PASSWORD)
    return client


def _serial(client: imaplib.IMAP4_SSL) -> int:
    from cryptography import x509

    der = client.sock.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number
