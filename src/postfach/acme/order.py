"""One certificate order from an ACME CA (RFC 8555), with certbot's `acme` library.

Blocking (the library speaks through `requests`): the renewal runs it in a
thread. The answers to the CA's challenges are files in the data directory
(net/certs.py `CertFiles`), so whichever process serves port 80 or 443 answers,
also when `postfach cert renew` orders from the command line:

- HTTP-01: `acme/http-01/TOKEN` holds the key authorization, served at
  http://NAME/.well-known/acme-challenge/TOKEN (web/wellknown.py);
- TLS-ALPN-01 (RFC 8737): `acme/tls-alpn-01/NAME.pem` holds a self-signed
  certificate for NAME with the critical acmeIdentifier extension (the SHA-256 of
  the key authorization), served by the https listener to a client asking for
  NAME with ALPN "acme-tls/1".

The account key is made once (`acme/account-key.pem`, mode 0600) and the
account's URL kept in `acme/account.json`. An issued certificate is written with
its new key to `certs/FIRST-NAME.pem` (0600) in one rename.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from postfach.net.certs import CertFiles, write_private

__all__ = ["AcmeSettings", "OrderError", "Shared", "order_certificate"]

log = logging.getLogger(__name__)

ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # id-pe-acmeIdentifier
ORDER_TIMEOUT = 120.0  # seconds for the CA to validate and issue


class OrderError(Exception):
    """The order failed; the message says for which name and why."""


class TLSALPN01Response(challenges.KeyAuthorizationChallengeResponse):
    """The (empty) answer to a tls-alpn-01 challenge; the library no longer has one."""

    typ = "tls-alpn-01"


class TLSALPN01(challenges.KeyAuthorizationChallenge):
    """RFC 8737's challenge: a certificate served for ALPN "acme-tls/1"."""

    response_cls = TLSALPN01Response
    typ = response_cls.typ

    def validation(self, account_key: JWK, **kwargs: Any) -> str:
        key_authorization: str = self.key_authorization(account_key)
        return key_authorization


if TLSALPN01.typ not in challenges.Challenge.TYPES:  # older releases of the library have one
    challenges.Challenge.register(TLSALPN01)
    challenges.ChallengeResponse.register(TLSALPN01Response)


class Shared(Protocol):
    """Where the other nodes find what this one publishes (the store's tls_files);
    called from the ordering thread."""

    def publish(self, name: str, data: bytes) -> None: ...
    def withdraw(self, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AcmeSettings:
    directory: str
    email: str
    ca_bundle: str  # a file of CA certificates for the directory; empty: the system's
    challenges: tuple[str, ...]  # the types we can answer, preferred first


def order_certificate(
    files: CertFiles, settings: AcmeSettings, names: Sequence[str], shared: Shared | None = None
) -> Path:
    """Orders one certificate for `names` and stores it (and shares it and the HTTP-01
    answers on the way); returns its file."""
    try:
        acme_client, account_key = _client(files, settings)
        return _order(acme_client, account_key, files, settings, names, shared)
    except (errors.Error, messages.Error, requests.RequestException, OSError) as exc:
        raise OrderError(f"{', '.join(names)}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, errors.ValidationError):
        details = []
        for authzr in exc.failed_authzrs:
            for challb in authzr.body.challenges:
                if challb.error is not None:
                    name = authzr.body.identifier.value
                    details.append(f"{name}: {challb.error.detail or challb.error.typ}")
        return "validation failed: " + "; ".join(details)
    if isinstance(exc, errors.TimeoutError):
        return "the CA did not finish in time"
    return str(exc) or type(exc).__name__


def _client(files: CertFiles, settings: AcmeSettings) -> tuple[client.ClientV2, JWK]:
    key_path = files.acme_dir / "account-key.pem"
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        write_private(key_path, _pem(key))
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    account_key = JWKEC(key=private)
    # requests takes a CA bundle's path where the library declares a bool.
    verify = cast(bool, settings.ca_bundle or True)
    net = client.ClientNetwork(
        account_key, alg=ES256, verify_ssl=verify, user_agent="postfach"
    )
    directory = client.ClientV2.get_directory(settings.directory, net)
    acme_client = client.ClientV2(directory, net)
    _account(acme_client, files, settings)
    return acme_client, account_key


def _account(acme_client: client.ClientV2, files: CertFiles, settings: AcmeSettings) -> None:
    """Our account at this directory: the one on file, else a new one."""
    record = files.acme_dir / "account.json"
    try:
        known = json.loads(record.read_text())
    except (FileNotFoundError, ValueError):
        known = {}
    if known.get("directory") == settings.directory and known.get("uri"):
        uri = str(known["uri"])
    else:
        registration = messages.NewRegistration.from_data(
            email=settings.email or None, terms_of_service_agreed=True
        )
        try:
            uri = acme_client.new_account(registration).uri
        except errors.ConflictError as exc:  # the key has an account already
            uri = exc.location
        record.write_text(json.dumps({"directory": settings.directory, "uri": uri}))
        log.info("acme: account %s at %s", uri, settings.directory)
    acme_client.net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())


def _order(
    acme_client: client.ClientV2,
    account_key: JWK,
    files: CertFiles,
    settings: AcmeSettings,
    names: Sequence[str],
    shared: Shared | None,
) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = _pem(key)
    order = acme_client.new_order(crypto_util.make_csr(key_pem, list(names)))
    published: list[Path] = []
    try:
        for authzr in order.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue  # validated recently for this account
            published.append(_answer(acme_client, account_key, files, settings, authzr, shared))
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_TIMEOUT)
        finished = acme_client.poll_and_finalize(order, deadline)
    finally:
        for path in published:
            path.unlink(missing_ok=True)
            if shared is not None and path.parent == files.http01_dir:
                shared.withdraw(f"http-01/{path.name}")
    path = files.issued(names[0])
    bundle = key_pem + finished.fullchain_pem.encode()
    write_private(path, bundle)
    if shared is not None:
        shared.publish(f"certs/{path.name}", bundle)
    log.info("acme: issued %s for %s", path.name, ", ".join(names))
    return path


def _answer(
    acme_client: client.ClientV2,
    account_key: JWK,
    files: CertFiles,
    settings: AcmeSettings,
    authzr: messages.AuthorizationResource,
    shared: Shared | None,
) -> Path:
    """Publishes the answer to the first challenge we can meet, and tells the CA."""
    name = str(authzr.body.identifier.value)
    offered = {challb.chall.typ: challb for challb in authzr.body.challenges}
    kind = next((k for k in settings.challenges if k in offered), None)
    if kind is None:
        raise OrderError(f"{name}: the CA offers none of {', '.join(settings.challenges)}")
    challb = offered[kind]
    chall = challb.chall
    assert isinstance(chall, challenges.KeyAuthorizationChallenge)
    key_authorization = chall.key_authorization(account_key)
    if kind == "http-01":
        path: Path = files.http01_dir / str(chall.encode("token"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key_authorization)
        if shared is not None:  # the CA may ask another node of the cluster
            shared.publish(f"http-01/{path.name}", key_authorization.encode())
    else:
        path = files.challenge_cert(name)
        write_private(path, _challenge_cert(name, key_authorization))
    acme_client.answer_challenge(challb, chall.response(account_key))
    return path


def _challenge_cert(name: str, key_authorization: str) -> bytes:
    """RFC 8737 §3: self-signed, for `name` alone, with the critical acmeIdentifier."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode()).digest()
    der_octet_string = b"\x04\x20" + digest
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, der_octet_string), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _pem(key) + cert.public_bytes(serialization.Encoding.PEM)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
