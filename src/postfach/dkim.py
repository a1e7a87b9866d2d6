"""DKIM keys, signing and the DNS records a domain should publish (RFC 6376, R21, R28).

`generate_key()` makes the per-domain key `postfach domain add` stores;
`sign()` adds a DKIM-Signature to outbound mail; `dns_records()` lists what
`postfach domain dns D` prints: MX, SPF (RFC 7208), DKIM, DMARC (RFC 7489), the
RFC 6186 / RFC 8314 SRV records, and the autoconfig/autodiscover names.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postfach.config import Config
from postfach.mtasts import policy_id
from postfach.store.records import Domain

__all__ = [
    "DEFAULT_PORTS", "arc_seal", "dns_records", "generate_key", "public_txt_value", "sign",
]  # fmt: skip

log = logging.getLogger(__name__)

KEY_BITS = 2048
# Headers signed (RFC 6376 §5.4.1); listing From twice "oversigns" it against additions.
SIGNED_HEADERS = (
    b"from", b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
    b"in-reply-to", b"references", b"mime-version", b"content-type",
    b"content-transfer-encoding", b"list-unsubscribe",
)  # fmt: skip
DEFAULT_PORTS: Mapping[str, int] = {
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
}


def generate_key() -> tuple[str, str, str]:
    """A new RSA key: (selector, private key PEM, the DKIM TXT record's value)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    selector = "pf" + time.strftime("%Y%m")
    return selector, pem, public_txt_value(pem)


def public_txt_value(private_pem: str) -> str:
    """ "v=DKIM1; k=rsa; p=..." for the key (RFC 6376 §3.6.1)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def sign(raw: bytes, domain: str, selector: str, private_pem: str) -> bytes:
    """`raw` with a DKIM-Signature header in front; unchanged if signing fails."""
    try:
        header = dkim.sign(
            raw,
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_pem.encode("ascii"),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
    except Exception:
        log.exception("DKIM signing for %s failed; sending unsigned", domain)
        return raw
    return bytes(header) + raw


def arc_seal(raw: bytes, domain: str, selector: str, private_pem: str, authserv_id: str) -> bytes:
    """`raw` with the next ARC set (RFC 8617: ARC-Seal, ARC-Message-Signature,
    ARC-Authentication-Results) in front, sealed with the domain's DKIM key over
    the Authentication-Results `authserv_id` added; unchanged if sealing fails or
    there is no such header to seal (mail that did not come through our MX)."""
    try:
        headers = dkim.arc_sign(
            raw,
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_pem.encode("ascii"),
            authserv_id.encode("ascii"),
        )
    except Exception:
        log.exception("ARC sealing for %s failed; forwarding unsealed", domain)
        return raw
    return b"".join(bytes(header) for header in headers) + raw


def _config_ports(config: Config) -> dict[str, int]:
    """The ports mail programs are told: `[public_ports]` where set, as autoconfig says."""
    enabled = {spec.name: config.public_port(spec) for spec in config.listeners_enabled()}
    return {name: enabled[name] for name in DEFAULT_PORTS if enabled.get(name)}


def _https_port(config: Config) -> int | None:
    """The public port of the `https` listener, None without one (autodiscover's SRV
    must point where something answers)."""
    if not getattr(config.listeners, "https", ""):
        return None
    spec = config.listener("https")
    return config.public_port(spec) if spec is not None else None


def _txt(name: str, value: str) -> str:
    # A TXT record's strings hold at most 255 octets each (RFC 1035 §3.3.14).
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return f"{name} IN TXT " + " ".join(f'"{c}"' for c in chunks)


def dns_records(
    domain: str | Domain,
    hostname: str | Config,
    *,
    dkim_selector: str = "",
    dkim_private_key: str = "",
    ports: Mapping[str, int] | None = None,
    mta_sts_id: str = "",
) -> list[str]:
    """Zone-file lines for `domain` served by `hostname`.

    Also takes a `Domain` record (its DKIM key is used) and a `Config` (its public
    name, and the public ports of its enabled listeners for the SRV records; the
    autodiscover SRV record only when it has an `https` listener).
    """
    if isinstance(domain, Domain):
        dkim_selector = dkim_selector or domain.dkim_selector
        dkim_private_key = dkim_private_key or domain.dkim_private_key
        domain = domain.name
    https_port: int | None = None
    if isinstance(hostname, Config):
        ports = ports or _config_ports(hostname)
        if hostname.mta_sts.mode != "none":
            mta_sts_id = mta_sts_id or policy_id(hostname)
        https_port = _https_port(hostname)
        hostname = hostname.public_name
    host = hostname.rstrip(".") + "."
    zone = domain.rstrip(".") + "."
    records = [
        f"{zone} IN MX 10 {host}",
        _txt(zone, "v=spf1 mx -all"),
    ]
    if dkim_selector and dkim_private_key:
        records.append(
            _txt(f"{dkim_selector}._domainkey.{zone}", public_txt_value(dkim_private_key))
        )
    records.append(
        _txt(f"_dmarc.{zone}", f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}")
    )
    for service, port in (ports or DEFAULT_PORTS).items():
        if port:
            records.append(f"_{service}._tcp.{zone} IN SRV 0 1 {port} {host}")
    records += [
        f"autoconfig.{zone} IN CNAME {host}",
        f"autodiscover.{zone} IN CNAME {host}",
    ]
    if mta_sts_id:  # RFC 8461 §3.1 and the policy's host; RFC 8460 §3 reports
        records += [
            f"mta-sts.{zone} IN CNAME {host}",
            _txt(f"_mta-sts.{zone}", f"v=STSv1; id={mta_sts_id}"),
            _txt(f"_smtp._tls.{zone}", f"v=TLSRPTv1; rua=mailto:postmaster@{domain}"),
        ]
    if https_port is not None:
        records.append(f"_autodiscover._tcp.{zone} IN SRV 0 1 {https_port} {host}")
    return records
