"""Headless Chromium signs in over HTTPS at a name that is not loopback's, with the
certificate pebble issued through postfach's ACME client; autoconfig and
autodiscover answer over HTTPS with certificates valid for their names.

The name resolves by `--host-resolver-rules`; the browser trusts exactly the
issued certificate's key (`--ignore-certificate-errors-spki-list`), as it would
trust Let's Encrypt's root on a real machine."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .pebble import needs_pebble
from .site import DOMAIN, HOST, acme_site

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    needs_pebble,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
]


def spki_hash(pem: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate, Chromium's pin."""
    cert = x509.load_pem_x509_certificate(pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


async def test_chromium_signs_in_over_https_with_the_acme_certificate(tmp_path):
    async with acme_site(tmp_path) as site:
        await site.server.add_user(f"ann@{DOMAIN}", PASSWORD)
        https, http = site.server.port("https"), site.server.port("http")
        issued = (site.data / "tls" / "certs" / f"{HOST}.pem").read_bytes()
        args = [
            *ARGS,
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={spki_hash(issued)}",
        ]
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
            try:
                page = await browser.new_page()
                page.set_default_timeout(15_000)
                # typed without https://: the http listener sends the browser on
                response = await page.goto(f"http://{HOST}:{http}/login")
                assert response is not None and response.url == f"https://{HOST}:{https}/login"
                details = await response.security_details()
                assert details is not None and details.get("subjectName") == HOST
                assert "Pebble" in str(details.get("issuer"))
                await page.fill("input[name=address]", f"ann@{DOMAIN}")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(f"https://{HOST}:{https}/mail")
                assert "The sign-in form had expired" not in await page.content()
                cookies = await page.context.cookies()
                session = [c for c in cookies if c["name"] == "postfach_session"]
                assert session and session[0]["secure"] and session[0]["domain"] == HOST
            finally:
                await browser.close()

        trust = site.trust()
        async with httpx.AsyncClient(verify=trust) as client:
            autoconfig = await client.get(
                f"https://127.0.0.1:{https}/mail/config-v1.1.xml",
                headers={"Host": f"autoconfig.{DOMAIN}"},
                extensions={"sni_hostname": f"autoconfig.{DOMAIN}"},
            )
            assert autoconfig.status_code == 200
            assert f"<hostname>{HOST}</hostname>" in autoconfig.text
            request = (
                '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
                'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
                f"<EMailAddress>ann@{DOMAIN}</EMailAddress><AcceptableResponseSchema>"
                "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
                "2006a</AcceptableResponseSchema></Request></Autodiscover>"
            )
            for name in (f"autodiscover.{DOMAIN}", HOST):  # Outlook's guess, then the SRV's
                autodiscover = await client.post(
                    f"https://127.0.0.1:{https}/autodiscover/autodiscover.xml",
                    content=request,
                    headers={"Host": name, "Content-Type": "text/xml"},
                    extensions={"sni_hostname": name},
                )
                assert autodiscover.status_code == 200, name
                assert re.search(rf"<Server>{re.escape(HOST)}</Server>", autodiscover.text)
