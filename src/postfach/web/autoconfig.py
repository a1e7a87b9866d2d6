"""Mail programs configure themselves (R28): Thunderbird autoconfig, Outlook
autodiscover (POX) and an Apple configuration profile.

The values come from the configuration (`[server] public_name` and the
listener ports, through `postfach.clientsetup.own`), so they are right behind a
proxy too. Builders are pure functions of (config, address) and return bytes;
the routes at the bottom only pick the address and the domain.

- Thunderbird: clientConfig 1.1, https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
- Outlook: "POX" autodiscover, [MS-OXDSCLI] §2.2.4 (responseschema/2006a)
- Apple: Configuration Profile Reference, payload com.apple.mail.managed
"""

from __future__ import annotations

import plistlib
import re
import time
import uuid
import xml.etree.ElementTree as ET  # noqa: N817 - building only, never parsing
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postfach.clientsetup.own import ServerSetting, own_settings
from postfach.config import Config
from postfach.web.common import context

__all__ = [
    "AUTODISCOVER_NS",
    "OUTLOOK_NS",
    "autodiscover_error",
    "autodiscover_xml",
    "client_settings",
    "mobileconfig",
    "routes",
    "thunderbird_xml",
]

AUTODISCOVER_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_AUTODISCOVER_REQUEST = 64 * 1024
_EMAIL_ELEMENT = re.compile(rb"<(?:\w+:)?EMailAddress>\s*([^<\s]{1,320})\s*</", re.I)
_SCHEMA_ELEMENT = re.compile(rb"<(?:\w+:)?AcceptableResponseSchema>\s*([^<\s]{1,300})\s*</", re.I)
_SOCKET_TYPE = {"SSL/TLS": "SSL", "STARTTLS": "STARTTLS"}


def _sub(parent: ET.Element, tag: str, text: str | int | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _xml(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def client_settings(config: Config, address: str) -> list[ServerSetting]:
    """The servers a mail program should be told of: every TLS listener (the
    plaintext `devices` listener is for scanners and printers, never offered)."""
    return [s for s in own_settings(config, address) if s.security in _SOCKET_TYPE]


def _by_role(settings: Sequence[ServerSetting], role: str) -> list[ServerSetting]:
    return [s for s in settings if s.role == role]


# -- Thunderbird -----------------------------------------------------------------


def _tb_server(parent: ET.Element, tag: str, setting: ServerSetting) -> None:
    server = _sub(parent, tag)
    server.set("type", setting.protocol.lower())
    _sub(server, "hostname", setting.host)
    _sub(server, "port", setting.port)
    _sub(server, "socketType", _SOCKET_TYPE[setting.security])
    _sub(server, "authentication", "password-cleartext")
    _sub(server, "username", "%EMAILADDRESS%")


def thunderbird_xml(config: Config, domains: Sequence[str], provider: str) -> bytes:
    """clientConfig version 1.1; servers in order of preference (implicit TLS
    first, IMAP before POP3): Thunderbird offers the first."""
    settings = client_settings(config, "%EMAILADDRESS%")
    root = ET.Element("clientConfig", version="1.1")
    provider_element = _sub(root, "emailProvider")
    provider_element.set("id", provider)
    for domain in domains:
        _sub(provider_element, "domain", domain)
    _sub(provider_element, "displayName", f"{provider} mail")
    _sub(provider_element, "displayShortName", provider)
    for setting in _by_role(settings, "incoming"):
        _tb_server(provider_element, "incomingServer", setting)
    for setting in _by_role(settings, "outgoing"):
        _tb_server(provider_element, "outgoingServer", setting)
    return _xml(root)


# -- Outlook ---------------------------------------------------------------------


def _pox_protocol(account: ET.Element, setting: ServerSetting, address: str) -> None:
    protocol = _sub(account, "Protocol")
    _sub(protocol, "Type", setting.protocol)
    _sub(protocol, "Server", setting.host)
    _sub(protocol, "Port", setting.port)
    _sub(protocol, "LoginName", address)
    _sub(protocol, "DomainRequired", "off")
    _sub(protocol, "SPA", "off")
    _sub(protocol, "SSL", "on")
    # [MS-OXDSCLI] §2.2.4.1.1.2.5.x: Encryption overrides SSL; "TLS" is STARTTLS.
    _sub(protocol, "Encryption", "SSL" if setting.security == "SSL/TLS" else "TLS")
    _sub(protocol, "AuthRequired", "on")
    if setting.protocol == "SMTP":
        _sub(protocol, "UsePOPAuth", "on")
        _sub(protocol, "SMTPLast", "off")


def _first_per_protocol(settings: Sequence[ServerSetting]) -> list[ServerSetting]:
    """One entry per protocol, the preferred (implicit TLS) one: Outlook takes
    the first Protocol element of each Type."""
    chosen: dict[str, ServerSetting] = {}
    for setting in settings:
        chosen.setdefault(setting.protocol, setting)
    return list(chosen.values())


def autodiscover_xml(config: Config, address: str) -> bytes:
    settings = _first_per_protocol(client_settings(config, address))
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_NS)
    response = _sub(root, "Response")
    response.set("xmlns", OUTLOOK_NS)
    user = _sub(response, "User")
    _sub(user, "DisplayName", address)
    _sub(user, "AutoDiscoverSMTPAddress", address)
    account = _sub(response, "Account")
    _sub(account, "AccountType", "email")
    _sub(account, "Action", "settings")
    for setting in settings:
        _pox_protocol(account, setting, address)
    return _xml(root)


def autodiscover_error(code: int, message: str) -> bytes:
    """[MS-OXDSCLI] §2.2.4.2: 600 Invalid Request, 601 schema not available."""
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_NS)
    response = _sub(root, "Response")
    error = _sub(response, "Error")
    error.set("Time", time.strftime("%H:%M:%S", time.gmtime()))
    error.set("Id", str(uuid.uuid4().int % 10**10))
    _sub(error, "ErrorCode", code)
    _sub(error, "Message", message)
    _sub(error, "DebugData")
    return _xml(root)


# -- Apple -----------------------------------------------------------------------


def _reverse_dns(name: str) -> str:
    return ".".join(reversed(name.strip(".").split("."))) or "postfach"


def _address_identifier(address: str) -> str:
    """anna@example.org as `org.example.anna`: the domain reversed, then the local
    part, each label reduced to the letters, digits and hyphens an identifier allows."""
    local, _, domain = address.rpartition("@")
    labels = [*reversed(domain.strip(".").split(".")), local]
    return ".".join(re.sub(r"[^A-Za-z0-9-]", "-", label) or "-" for label in labels)


def _mail_payload(config: Config, address: str, identifier: str) -> dict[str, object]:
    settings = client_settings(config, address)
    incoming = _by_role(settings, "incoming")
    imap = [s for s in incoming if s.protocol == "IMAP"]
    source = (imap or incoming)[0]
    outgoing = _by_role(settings, "outgoing")[0]
    return {
        "EmailAccountDescription": address,
        "EmailAccountName": address,
        "EmailAccountType": "EmailTypeIMAP" if source.protocol == "IMAP" else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": source.host,
        "IncomingMailServerPortNumber": source.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": outgoing.host,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
        "PayloadDescription": f"Mail account {address}",
        "PayloadDisplayName": address,
        "PayloadIdentifier": identifier + ".mail",
        "PayloadType": "com.apple.mail.managed",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{address}#mail")).upper(),
        "PayloadVersion": 1,
        "PreventAppSheet": False,
        "PreventMove": False,
        "SMIMEEnabled": False,
    }


def mobileconfig(config: Config, address: str) -> bytes:
    """An unsigned configuration profile with one mail account; the same address
    always gets the same UUIDs, so installing it again replaces the old one."""
    identifier = f"{_reverse_dns(config.public_name)}.postfach.{_address_identifier(address)}"
    profile = {
        "PayloadContent": [_mail_payload(config, address, identifier)],
        "PayloadDescription": f"Sets up the mail account {address}.",
        "PayloadDisplayName": f"Mail: {address}",
        "PayloadIdentifier": identifier,
        "PayloadOrganization": address.rpartition("@")[2],
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{address}")).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


# -- routes ----------------------------------------------------------------------


def _xml_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/xml")


async def _domain_for(request: Request, address: str) -> str | None:
    """Our domain for the address, or (no address) the one the Host header
    names ("autoconfig.example.org"), or the only one."""
    store = context(request).store
    if address:
        domain = address.rpartition("@")[2].lower()
        return domain if "@" in address and await store.accounts.get_domain(domain) else None
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
    for prefix in ("autoconfig.", "autodiscover.", ""):
        if host.startswith(prefix) and await store.accounts.get_domain(host[len(prefix) :]):
            return host[len(prefix) :]
    domains = await store.accounts.list_domains()
    return domains[0].name if len(domains) == 1 else None


async def thunderbird(request: Request) -> Response:
    address = request.query_params.get("emailaddress", "").strip()
    domain = await _domain_for(request, address)
    if domain is None:
        return Response("no such mail domain here\n", status_code=404, media_type="text/plain")
    config = context(request).config
    return _xml_response(thunderbird_xml(config, [domain], domain))


async def autodiscover(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_AUTODISCOVER_REQUEST:
            return _xml_response(autodiscover_error(600, "Invalid Request"), 413)
    email = _EMAIL_ELEMENT.search(body)
    schema = _SCHEMA_ELEMENT.search(body)
    if email is None:
        return _xml_response(autodiscover_error(600, "Invalid Request"))
    if schema is not None and schema.group(1).decode("ascii", "replace") != OUTLOOK_NS:
        return _xml_response(autodiscover_error(601, "Provider is not available"))
    address = email.group(1).decode("utf-8", "replace").lower()
    if await _domain_for(request, address) is None:
        return _xml_response(autodiscover_error(600, "Invalid Request"))
    return _xml_response(autodiscover_xml(context(request).config, address))


def routes() -> list[BaseRoute]:
    paths = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")
    return [
        Route("/.well-known/autoconfig/mail/config-v1.1.xml", thunderbird, methods=["GET"]),
        Route("/mail/config-v1.1.xml", thunderbird, methods=["GET"]),
        *(Route(p, autodiscover, methods=["POST"]) for p in paths),
    ]
