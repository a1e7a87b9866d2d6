"""Certificates from ACME (pebble, validating over the wire against our listeners):
issued for every name, chosen per name by SNI, renewed before expiry and picked
up by new sessions on every listener while an open IMAP session carries on."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import stat

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import BACKENDS
from support.cli import run_cli

from .pebble import needs_pebble
from .site import DOMAIN, HOST, acme_site, imaps_client, names_of, smtp_starttls_cert, tls_cert

pytestmark = needs_pebble
PASSWORD = "correct horse battery"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_http01_issues_a_certificate_per_name_group_and_sni_picks_each(tmp_path, backend):
    async with acme_site(tmp_path, backend, challenges=("http-01",)) as site:
        trust = site.trust()
        certs = site.data / "tls" / "certs"
        assert sorted(p.name for p in certs.iterdir()) == [
            "autoconfig.example.org.pem", f"autoconfig.{DOMAIN}.pem", f"{HOST}.pem"
        ]  # fmt: skip
        for path in [*certs.iterdir(), site.data / "tls" / "acme" / "account-key.pem"]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for port in (site.server.port("imaps"), site.server.port("https")):
            host = await asyncio.to_thread(tls_cert, port, HOST, trust)
            policy = await asyncio.to_thread(tls_cert, port, f"mta-sts.{DOMAIN}", trust)
            autoconfig = await asyncio.to_thread(tls_cert, port, f"autoconfig.{DOMAIN}", trust)
            assert names_of(host) == {HOST}
            assert names_of(policy) == {
                f"autoconfig.{DOMAIN}", f"autodiscover.{DOMAIN}", f"mta-sts.{DOMAIN}"
            }  # fmt: skip
            assert autoconfig.serial_number == policy.serial_number != host.serial_number
            no_sni = await asyncio.to_thread(tls_cert, port, None, _unchecked())
            assert no_sni.serial_number == host.serial_number  # the host name's is the default
        submission = site.server.port("submission")
        starttls = await asyncio.to_thread(smtp_starttls_cert, submission, HOST, trust)
        assert starttls.serial_number == host.serial_number

        # MTA-STS over HTTPS at mta-sts.DOMAIN, with its certificate verified
        async with httpx.AsyncClient(verify=trust) as client:
            response = await client.get(
                f"https://127.0.0.1:{site.server.port('https')}/.well-known/mta-sts.txt",
                headers={"Host": f"mta-sts.{DOMAIN}"},
                extensions={"sni_hostname": f"mta-sts.{DOMAIN}"},
            )
        assert response.status_code == 200
        assert response.text.split("\r\n") == [
            "version: STSv1", "mode: testing", f"mx: {HOST}", "max_age: 604800", ""
        ]  # fmt: skip

        config = site.tmp_path / "postfach.toml"
        config.write_text(
            f'[server]\nhostname = "{HOST}"\ndata_dir = "{site.data}"\n'
            f'[storage]\nurl = "{site.server.ctx.config.storage.url}"\n'
        )
        status, out = await run_cli(["cert", "--config", str(config)])
        assert status == 0, out
        lines = {line.split()[0]: line for line in out.splitlines()}
        assert f"certs/{HOST}.pem: issued by Pebble Intermediate" in lines[HOST]
        assert f"certs/autoconfig.{DOMAIN}.pem" in lines[f"mta-sts.{DOMAIN}"]
        expiry = host.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
        assert f"until {expiry}" in lines[HOST]
        assert "NOT VALID" not in out

        # `cert renew` orders every certificate again, the running server answering
        acme = site.server.ctx.config.acme
        with config.open("a") as text:
            text.write(
                f'[listeners]\nhttp = "127.0.0.1:{site.server.port("http")}"\n'
                f'[acme]\nemail = "{acme.email}"\ndirectory = "{acme.directory}"\n'
                f'ca_bundle = "{acme.ca_bundle}"\n'
            )
        status, out = await run_cli(["cert", "renew", "--config", str(config)])
        assert status == 0, out
        assert sorted(line.rsplit("/", 1)[1] for line in out.splitlines()) == sorted(
            p.name for p in certs.iterdir()
        )
        again = await asyncio.to_thread(tls_cert, site.server.port("https"), HOST, trust)
        assert again.serial_number != host.serial_number


@pytest.mark.parametrize("backend", BACKENDS)
async def test_tls_alpn01_is_answered_on_the_https_listener(tmp_path, backend):
    challenges = ("http-01", "tls-alpn-01")
    async with acme_site(tmp_path, backend, challenges, http=False) as site:
        assert "http" not in site.server.app.listeners  # no port 80: HTTP-01 cannot pass
        cert = await asyncio.to_thread(tls_cert, site.server.port("https"), HOST, site.trust())
        assert names_of(cert) == {HOST}
        # the challenge certificates are gone: the name gets its real certificate again
        assert not any((site.data / "tls" / "acme" / "tls-alpn-01").iterdir())


def _unchecked() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _soon_expiring(path, name: str) -> int:
    """Replaces `path` with a self-made certificate for `name` that ends tomorrow."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=89))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    temporary = path.with_name(".soon.tmp")
    temporary.write_bytes(pem)
    temporary.replace(path)
    return cert.serial_number


@pytest.mark.parametrize("backend", BACKENDS)
async def test_renewal_reaches_new_sessions_and_spares_open_ones(tmp_path, backend):
    async with acme_site(tmp_path, backend) as site:
        await site.server.add_user(f"ann@{DOMAIN}", PASSWORD)
        imaps, https = site.server.port("imaps"), site.server.port("https")
        path = site.data / "tls" / "certs" / f"{HOST}.pem"
        expiring = _soon_expiring(path, HOST)
        # every listener serves the replaced file at once (no restart)
        seen = await asyncio.to_thread(tls_cert, imaps, HOST, _unchecked())
        assert seen.serial_number == expiring

        before = await asyncio.to_thread(imaps_client, imaps, HOST, _unchecked())
        await asyncio.to_thread(before.login, f"ann@{DOMAIN}", PASSWORD)
        assert (await asyncio.to_thread(before.select, "INBOX"))[0] == "OK"
        assert peer_cert(before.sock).serial_number == expiring

        await site.renew()  # due: a day left of 90
        trust = site.trust()
        renewed = await asyncio.to_thread(tls_cert, imaps, HOST, trust)
        assert renewed.serial_number != expiring and names_of(renewed) == {HOST}
        assert renewed.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + (
            datetime.timedelta(days=30)
        )
        after = await asyncio.to_thread(imaps_client, imaps, HOST, trust)
        assert peer_cert(after.sock).serial_number == renewed.serial_number
        await asyncio.to_thread(after.login, f"ann@{DOMAIN}", PASSWORD)
        await asyncio.to_thread(after.logout)
        smtp = await asyncio.to_thread(
            smtp_starttls_cert, site.server.port("submission"), HOST, trust
        )
        assert smtp.serial_number == renewed.serial_number
        web = await asyncio.to_thread(tls_cert, https, HOST, trust)
        assert web.serial_number == renewed.serial_number

        # the session opened before the renewal still works
        assert (await asyncio.to_thread(before.noop))[0] == "OK"
        status, data = await asyncio.to_thread(before.status, "INBOX", "(MESSAGES)")
        assert status == "OK" and b"MESSAGES 0" in data[0]
        await asyncio.to_thread(before.logout)

        # nothing is due now: a second check orders nothing
        renewal = site.server.app.cert_renewal
        assert renewal is not None
        assert (await renewal.run_once()).issued == []


def peer_cert(sock) -> x509.Certificate:  # noqa: ANN001
    return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True))
