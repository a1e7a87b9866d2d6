"""The web listeners without a CA: https beside http (which redirects), HSTS,
certificates chosen by SNI from files dropped in place, the self-signed
certificate's names and addresses, and --dev's plain HTTP on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import imaplib
import ipaddress
import poplib
import re
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import make_server
from postfach.app import App
from postfach.config import ListenersConfig, dev_config
from postfach.net.certs import cert_info
from postfach.net.tls import make_self_signed
from support.net import free_port, insecure_tls_context

from .site import names_of, tls_cert

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def _web_listeners() -> dict[str, str]:
    # Fixed ports: the redirect names the https listener's configured port.
    return {"http": f"127.0.0.1:{free_port()}", "https": f"127.0.0.1:{free_port()}"}


async def test_http_redirects_to_https_but_serves_acme_and_autoconfig(tmp_path):
    async with make_server(tmp_path, listeners=_web_listeners()) as server:
        http, https = server.port("http"), server.port("https")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}") as client:
            moved = await client.get("/login?next=%2Fmail", headers={"Host": "mail.example.org"})
            assert moved.status_code == 301
            assert moved.headers["location"] == (
                f"https://mail.example.org:{https}/login?next=%2Fmail"
            )
            posted = await client.post("/login", headers={"Host": "mail.example.org:80"})
            assert posted.status_code == 301
            assert posted.headers["location"] == f"https://mail.example.org:{https}/login"
            assert "strict-transport-security" not in moved.headers

            token = "e9Xo-Qt_3f"  # what certs/acme.py publishes while the CA checks
            challenges = Path(server.ctx.config.data_path) / "tls" / "acme" / "http-01"
            challenges.mkdir(parents=True)
            (challenges / token).write_text(f"{token}.thumbprint")
            answer = await client.get(f"/.well-known/acme-challenge/{token}")
            assert answer.status_code == 200 and answer.text == f"{token}.thumbprint"
            missing = await client.get("/.well-known/acme-challenge/unknown")
            assert missing.status_code == 404

            config = await client.get(
                "/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.org"}
            )
            assert config.status_code == 200 and "<clientConfig" in config.text
            wellknown = await client.get(
                "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a%40example.org"
            )
            assert wellknown.status_code == 200 and "<clientConfig" in wellknown.text

        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{https}", verify=insecure_tls_context()
        ) as client:
            page = await client.get("/login")
            assert page.status_code == 200
            assert page.headers["strict-transport-security"] == "max-age=31536000"
            assert "Secure" in page.headers["set-cookie"]
            policy = await client.get("/.well-known/mta-sts.txt")
            assert policy.status_code == 200 and "mx: mail.example.org\r\n" in policy.text


async def test_sign_in_over_https_at_the_host_name(tmp_path):
    """The issue's complaint: the sign-in form at a real name (Secure cookies) works."""
    async with make_server(tmp_path, listeners=_web_listeners()) as server:
        await server.add_user("ann@example.org", PASSWORD)
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{server.port('https')}",
            verify=insecure_tls_context(),
            headers={"Host": "mail.example.org"},
        ) as client:
            form = await client.get("/login")
            token = _CSRF.search(form.text)
            assert token is not None
            signed_in = await client.post(
                "/login",
                data={"csrf": token.group(1), "address": "ann@example.org",
                      "password": PASSWORD, "next": "/mail"},
                headers={"Origin": "https://mail.example.org"},
            )  # fmt: skip
            assert signed_in.status_code == 303, signed_in.text
            assert signed_in.headers["location"] == "/mail"
            inbox = await client.get("/mail")
            assert inbox.status_code == 200 and "ann@example.org" in inbox.text


def _write_issued(path: Path, *names: str) -> int:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")  # renamed into place, as ACME does
    temporary.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    temporary.replace(path)
    return cert.serial_number


async def test_sni_gives_each_name_its_certificate_on_every_listener(tmp_path):
    async with make_server(tmp_path, listeners=_web_listeners()) as server:
        certs = Path(server.ctx.config.data_path) / "tls" / "certs"
        first = _write_issued(certs / "one.example.org.pem", "one.example.org")
        second = _write_issued(certs / "two.example.net.pem", "two.example.net", "*.example.net")
        unchecked = insecure_tls_context()
        for name in ("imaps", "pop3s", "submissions", "https"):
            port = server.port(name)
            one = await asyncio.to_thread(tls_cert, port, "one.example.org", unchecked)
            two = await asyncio.to_thread(tls_cert, port, "two.example.net", unchecked)
            wild = await asyncio.to_thread(tls_cert, port, "any.example.net", unchecked)
            other = await asyncio.to_thread(tls_cert, port, "mail.example.org", unchecked)
            assert one.serial_number == first, name
            assert two.serial_number == wild.serial_number == second, name
            assert names_of(other) == {"mail.example.org", "localhost"}  # the self-signed one
        imap_cert = await asyncio.to_thread(_imap_starttls, server.port("imap"), unchecked)
        pop3_cert = await asyncio.to_thread(_pop3_stls, server.port("pop3"), unchecked)
        assert imap_cert.serial_number == pop3_cert.serial_number == first


def _imap_starttls(port: int, context: ssl.SSLContext) -> x509.Certificate:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.host = "one.example.org"  # what starttls() names by SNI
    client.starttls(context)
    der = client.sock.getpeercert(binary_form=True)
    client.logout()
    return x509.load_der_x509_certificate(der)


def _pop3_stls(port: int, context: ssl.SSLContext) -> x509.Certificate:
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.host = "one.example.org"
    client.stls(context)
    der = client.sock.getpeercert(binary_form=True)
    client.quit()
    return x509.load_der_x509_certificate(der)


def test_the_self_signed_certificate_names_loopback_and_listen_addresses(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    listen = ipaddress.ip_address("192.0.2.7")
    make_self_signed(cert, key, "mail.example.org", addresses=(listen,))
    info = cert_info(cert.read_bytes())
    assert info.names == ("mail.example.org", "localhost", "127.0.0.1", "::1", "192.0.2.7")
    assert key.stat().st_mode & 0o777 == 0o600


async def test_dev_serves_plain_http_on_loopback_with_cookies_that_are_not_secure(tmp_path):
    base = dev_config(tmp_path)
    ports = {f.name: "" for f in dataclasses.fields(ListenersConfig)}
    ports.update(http="127.0.0.1:0", https="127.0.0.1:0")
    config = dataclasses.replace(base, listeners=ListenersConfig(**ports))
    app = App(config)
    await app.start()
    try:
        await app.ctx.store.accounts.add_domain("example.test")
        from postfach.auth.passwords import hash_password_async

        digest = await hash_password_async(PASSWORD)
        await app.ctx.store.accounts.add_account("demo@example.test", digest)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port('http')}") as client:
            form = await client.get("/login")
            assert form.status_code == 200  # served, not redirected
            assert "secure" not in form.headers["set-cookie"].lower()
            assert "strict-transport-security" not in form.headers
            token = _CSRF.search(form.text)
            assert token is not None
            signed_in = await client.post(
                "/login",
                data={"csrf": token.group(1), "address": "demo@example.test",
                      "password": PASSWORD, "next": "/mail"},
            )  # fmt: skip
            assert signed_in.status_code == 303, signed_in.text
            assert (await client.get("/mail")).status_code == 200
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{app.port('https')}", verify=insecure_tls_context()
        ) as client:
            form = await client.get("/login")
            assert "Secure" in form.headers["set-cookie"]  # over HTTPS, Secure as ever
    finally:
        await app.stop()


async def test_the_guard_holds_on_the_https_listener(tmp_path):
    """Per-address limit and header timeout, as on plain HTTP (web/guard.py)."""
    limits = {"max_connections_per_ip": 2, "http_header_timeout": 1.0}
    async with make_server(tmp_path, listeners=_web_listeners(), limits=limits) as server:
        port, context = server.port("https"), insecure_tls_context()

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, local_addr=("127.0.0.2", 0)
            )

        held = [await connect() for _ in range(2)]
        reader, writer = await connect()
        refused = await asyncio.wait_for(reader.read(), 30)
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"Too many connections from your address" in refused
        writer.close()
        # a held connection that sends no request is cut after the header timeout
        timed_out = await asyncio.wait_for(held[0][0].read(), 30)
        assert timed_out.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        for _, held_writer in held:
            held_writer.close()
