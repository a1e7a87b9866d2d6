"""TLS: the operator's certificate, or a self-signed pair made on first start (R8),
and the certificate store (net/certs.py) that serves them and the ACME ones."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postfach.config import Config
from postfach.net.certs import CertFiles, CertStore

__all__ = [
    "cert_paths",
    "cert_store",
    "handshake_failed",
    "listen_addresses",
    "make_self_signed",
    "server_ssl_context",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger(__name__)

# What a failed STARTTLS/STLS handshake raises: ssl.SSLError is an OSError.
HANDSHAKE_ERRORS = (OSError, TimeoutError, ValueError)


def handshake_failed(protocol: str, ip: str, exc: BaseException) -> None:
    """One quiet line for a client whose TLS handshake failed: its problem, not ours."""
    log.info("%s: TLS handshake from %s failed: %s", protocol, ip, exc or type(exc).__name__)


def make_self_signed(
    cert_path: Path,
    key_path: Path,
    hostname: str,
    *,
    not_before: datetime.datetime | None = None,
    days: int = 3650,
    addresses: tuple[IpAddress, ...] = (),
) -> None:
    """Writes a self-signed certificate for `hostname`, localhost, the loopback
    addresses and `addresses` (those it listens on), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname != "localhost":
        alt_names.append(x509.DNSName("localhost"))
    loopback = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
    for address in dict.fromkeys((*loopback, *addresses)):
        alt_names.append(x509.IPAddress(address))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def cert_paths(config: Config) -> tuple[Path, Path]:
    """The certificate and key in use; a self-signed pair in data_dir when none is set."""
    if config.tls.cert and config.tls.key:
        return Path(config.tls.cert), Path(config.tls.key)
    data = config.data_path
    cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
    if not (cert.exists() and key.exists()):
        make_self_signed(cert, key, config.server.hostname, addresses=listen_addresses(config))
    return cert, key


def listen_addresses(config: Config) -> tuple[IpAddress, ...]:
    """The specific addresses the listeners are bound to (not the wildcards)."""
    found: list[IpAddress] = []
    for spec in config.listeners_enabled():
        try:
            address = ipaddress.ip_address(spec.host)
        except ValueError:
            continue
        if not address.is_unspecified and address not in found:
            found.append(address)
    return tuple(found)


def cert_store(config: Config) -> CertStore:
    """The process's certificates: ACME ones by name, else the operator's or self-signed."""
    cert, key = cert_paths(config)
    files = CertFiles(config.data_path / "tls")
    return CertStore(files, cert, key, config.server.hostname)


def server_ssl_context(config: Config) -> ssl.SSLContext:
    return cert_store(config).server_context()
