"""TLS: the operator's certificate, or a self-signed pair made on first start (R8)."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postfach.config import Config

__all__ = ["cert_paths", "handshake_failed", "make_self_signed", "server_ssl_context"]

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
) -> None:
    """Writes a self-signed certificate for `hostname` (and localhost) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname != "localhost":
        alt_names.append(x509.DNSName("localhost"))
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
        make_self_signed(cert, key, config.server.hostname)
    return cert, key


def server_ssl_context(config: Config) -> ssl.SSLContext:
    cert, key = cert_paths(config)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
