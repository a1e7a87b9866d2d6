"""Auto-configuration (R28): Thunderbird clientConfig 1.1, Outlook POX
autodiscover and the Apple profile, checked element by element."""

from __future__ import annotations

import dataclasses
import plistlib
import xml.etree.ElementTree as ET

import httpx
import pytest

from postfach.config import config_from_dict
from postfach.web.autoconfig import AUTODISCOVER_NS, OUTLOOK_NS

from .webhelpers import client_for, sign_in

# The standard ports, and a public name that differs from the host name, as
# behind a proxy: mail programs must be told the public one.
PUBLIC = {
    "server": {"hostname": "node1.internal", "public_name": "mail.example.org"},
    "listeners": {
        "smtp": "0.0.0.0:25", "submission": "0.0.0.0:587", "submissions": "0.0.0.0:465",
        "imap": "0.0.0.0:143", "imaps": "0.0.0.0:993", "pop3": "0.0.0.0:110",
        "pop3s": "0.0.0.0:995", "http": "0.0.0.0:8080", "devices": "0.0.0.0:2525",
    },
}  # fmt: skip

TB_INCOMING = [
    ("imap", "993", "SSL"),
    ("imap", "143", "STARTTLS"),
    ("pop3", "995", "SSL"),
    ("pop3", "110", "STARTTLS"),
]
TB_OUTGOING = [("smtp", "465", "SSL"), ("smtp", "587", "STARTTLS")]


@pytest.fixture
async def public(web) -> httpx.AsyncClient:
    config = config_from_dict(PUBLIC, "test")
    async with client_for(dataclasses.replace(web.ctx, config=config)) as client:
        yield client


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def check_tb_server(server: ET.Element, kind: str, port: str, socket_type: str) -> None:
    assert server.get("type") == kind
    assert children(server) == ["hostname", "port", "socketType", "authentication", "username"]
    assert server.findtext("hostname") == "mail.example.org"
    assert server.findtext("port") == port
    assert server.findtext("socketType") == socket_type
    assert server.findtext("authentication") == "password-cleartext"
    assert server.findtext("username") == "%EMAILADDRESS%"


@pytest.mark.parametrize(
    "path",
    [
        "/mail/config-v1.1.xml?emailaddress=alice%40example.org",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
    ],
)
async def test_thunderbird_autoconfig(public, path):
    response = await public.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "clientConfig"
    assert root.get("version") == "1.1"
    assert children(root) == ["emailProvider"]
    provider = root.find("emailProvider")
    assert provider.get("id") == "example.org"
    assert children(provider)[:3] == ["domain", "displayName", "displayShortName"]
    assert [d.text for d in provider.findall("domain")] == ["example.org"]
    incoming = provider.findall("incomingServer")
    outgoing = provider.findall("outgoingServer")
    assert len(incoming) == len(TB_INCOMING) and len(outgoing) == len(TB_OUTGOING)
    for server, expected in zip(incoming, TB_INCOMING, strict=True):
        check_tb_server(server, *expected)
    for server, expected in zip(outgoing, TB_OUTGOING, strict=True):
        check_tb_server(server, *expected)


async def test_thunderbird_unknown_domain_is_404(public):
    response = await public.get("/mail/config-v1.1.xml?emailaddress=eve%40elsewhere.net")
    assert response.status_code == 404


async def test_thunderbird_omits_switched_off_listeners(web):
    config = config_from_dict(
        {"server": {"hostname": "mx.example.org"},
         "listeners": {**PUBLIC["listeners"], "pop3": "", "pop3s": "", "imap": ""}},
        "test",
    )  # fmt: skip
    async with client_for(dataclasses.replace(web.ctx, config=config)) as client:
        response = await client.get("/mail/config-v1.1.xml?emailaddress=bob%40example.org")
    provider = ET.fromstring(response.content).find("emailProvider")
    servers = [(s.get("type"), s.findtext("port")) for s in provider.findall("incomingServer")]
    assert servers == [("imap", "993")]
    assert provider.find("incomingServer").findtext("hostname") == "mx.example.org"


def autodiscover_request(address: str, schema: str = OUTLOOK_NS) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
        'outlook/requestschema/2006"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


A = f"{{{AUTODISCOVER_NS}}}"
O = f"{{{OUTLOOK_NS}}}"  # noqa: E741

POX_PROTOCOL_ELEMENTS = [
    "Type", "Server", "Port", "LoginName", "DomainRequired", "SPA", "SSL", "Encryption",
    "AuthRequired",
]  # fmt: skip


@pytest.mark.parametrize(
    "path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]
)
async def test_outlook_autodiscover(public, path):
    response = await public.post(path, content=autodiscover_request("Alice@Example.org"))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == A + "Autodiscover"
    response_element = root.find(O + "Response")
    assert response_element is not None
    assert response_element.find(f"{O}User/{O}AutoDiscoverSMTPAddress").text == "alice@example.org"
    account = response_element.find(O + "Account")
    assert account.findtext(O + "AccountType") == "email"
    assert account.findtext(O + "Action") == "settings"
    protocols = account.findall(O + "Protocol")
    seen = []
    for protocol in protocols:
        tags = [c.tag.removeprefix(O) for c in protocol]
        assert tags[: len(POX_PROTOCOL_ELEMENTS)] == POX_PROTOCOL_ELEMENTS
        value = {c.tag.removeprefix(O): c.text for c in protocol}
        assert value["Server"] == "mail.example.org"
        assert value["LoginName"] == "alice@example.org"
        assert value["SSL"] == "on" and value["SPA"] == "off" and value["AuthRequired"] == "on"
        seen.append((value["Type"], value["Port"], value["Encryption"]))
    assert seen == [("IMAP", "993", "SSL"), ("POP3", "995", "SSL"), ("SMTP", "465", "SSL")]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not xml at all", "600"),
        (autodiscover_request("eve@elsewhere.net"), "600"),
        (
            autodiscover_request(
                "alice@example.org",
                "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006",
            ),
            "601",
        ),
    ],
)
async def test_outlook_autodiscover_errors(public, body, code):
    response = await public.post("/autodiscover/autodiscover.xml", content=body)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    error = root.find(f"{A}Response/{A}Error")
    assert error is not None and error.findtext(A + "ErrorCode") == code


async def test_outlook_autodiscover_refuses_huge_bodies(public):
    response = await public.post("/autodiscover/autodiscover.xml", content=b"x" * 200_000)
    assert response.status_code == 413


async def test_apple_profile_needs_sign_in(public):
    response = await public.get("/settings/apple.mobileconfig")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_apple_profile(public):
    assert (await sign_in(public, "alice@example.org")).status_code == 303
    response = await public.get("/settings/apple.mobileconfig")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-apple-aspen-config"
    assert "attachment" in response.headers["content-disposition"]
    profile = plistlib.loads(response.content)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    # Reverse-DNS: the server's name, then the address's domain reversed and its local part.
    assert profile["PayloadIdentifier"] == "org.example.mail.postfach.org.example.alice"
    [mail] = profile["PayloadContent"]
    assert mail["PayloadIdentifier"] == "org.example.mail.postfach.org.example.alice.mail"
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == "alice@example.org"
    assert mail["IncomingMailServerHostName"] == "mail.example.org"
    assert mail["IncomingMailServerPortNumber"] == 993
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == "alice@example.org"
    assert mail["OutgoingMailServerHostName"] == "mail.example.org"
    assert mail["OutgoingMailServerPortNumber"] == 465
    assert mail["OutgoingMailServerUsername"] == "alice@example.org"
    assert mail["IncomingMailServerAuthentication"] == "EmailAuthPassword"
    # The same profile twice: same identifiers, so a device replaces the old one.
    again = plistlib.loads((await public.get("/settings/apple.mobileconfig")).content)
    assert again["PayloadUUID"] == profile["PayloadUUID"]
    assert again["PayloadContent"][0]["PayloadUUID"] == mail["PayloadUUID"]
