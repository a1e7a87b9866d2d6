"""Which certificate each TLS handshake gets: chosen per server name (SNI), re-read
when its file changes, so a renewed certificate reaches every listener and every
worker without a restart and without touching the sessions already open.

The files, under `data_dir/tls/` (`CertFiles`):

    cert.pem, key.pem           the self-signed pair made when nothing else is set
    certs/NAME.pem              an ACME certificate: its key (mode 0600) and chain in
                                one file, replaced atomically, so no handshake sees a
                                new certificate with the old key
    acme/account-key.pem        the ACME account (certs/acme.py)
    acme/http-01/TOKEN          key authorizations while the CA validates (HTTP-01)
    acme/tls-alpn-01/NAME.pem   challenge certificates while it validates (RFC 8737)

Each handshake stats the default certificate and the `certs/` folder (files are
renamed into it, which moves its mtime); when the folder changed, its files with
a new inode or mtime are loaded again. Replace files there by rename, never by
writing into them. The default
(for a client without SNI, or a name no certificate covers) is the ACME certificate
of the host name when there is one, else the operator's or the self-signed one.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "ACME_TLS_ALPN",
    "CertFiles",
    "CertInfo",
    "CertStore",
    "cert_info",
    "covers",
    "new_server_context",
    "write_private",
]

log = logging.getLogger(__name__)

ACME_TLS_ALPN = "acme-tls/1"  # RFC 8737 §6.2
FOLDER_SETTLE = 2.0  # seconds after a change to certs/ during which it is read every time
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,252})")


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Where the certificates of one data directory live."""

    tls_dir: Path

    @property
    def certs_dir(self) -> Path:
        return self.tls_dir / "certs"

    @property
    def acme_dir(self) -> Path:
        return self.tls_dir / "acme"

    @property
    def http01_dir(self) -> Path:
        return self.acme_dir / "http-01"

    @property
    def tls_alpn_dir(self) -> Path:
        return self.acme_dir / "tls-alpn-01"

    def issued(self, name: str) -> Path:
        return self.certs_dir / f"{name}.pem"

    def challenge_cert(self, name: str) -> Path:
        return self.tls_alpn_dir / f"{name}.pem"


@dataclass(frozen=True, slots=True)
class CertInfo:
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: int
    issuer: str
    self_signed: bool

    def due(self, now: datetime.datetime) -> bool:
        """Time to renew: less than a third of its lifetime, or 30 days, left."""
        lifetime = self.not_after - self.not_before
        margin = min(lifetime / 3, datetime.timedelta(days=30))
        return now >= self.not_after - margin


def cert_info(pem: bytes) -> CertInfo:
    """What the first certificate in `pem` (a chain, maybe with a key) says."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        names = tuple(str(attr.value) for attr in common)
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertInfo(
        names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        issuer=str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(),
        self_signed=cert.issuer == cert.subject,
    )


def covers(pattern: str, name: str) -> bool:
    """A certificate name (maybe `*.domain`) matches a server name."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def new_server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def write_private(path: Path, data: bytes) -> None:
    """Writes a file holding a key: mode 0600 from its creation, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass(slots=True)
class _Loaded:
    stamp: tuple[int, int]  # inode, mtime: another file when either changes
    context: ssl.SSLContext
    info: CertInfo


def _stamp(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_ino, stat.st_mtime_ns


def _load(cert: Path, key: Path | None = None) -> tuple[ssl.SSLContext, CertInfo]:
    context = new_server_context()
    context.load_cert_chain(cert, key)
    return context, cert_info(cert.read_bytes())


@dataclass(slots=True)
class CertStore:
    """The certificates of one process, and the server contexts that choose among them."""

    files: CertFiles
    default_cert: Path  # the operator's or the self-signed certificate...
    default_key: Path  # ...and its key
    hostname: str
    _issued: dict[str, _Loaded] = field(default_factory=dict)  # file name -> certificate
    _by_name: dict[str, _Loaded] = field(default_factory=dict)  # "name" or "*.domain"
    _folder_stamp: tuple[int, int] | None = None
    _default: _Loaded | None = None
    _challenges: dict[str, _Loaded] = field(default_factory=dict)

    def server_context(self, *, acme_challenges: bool = False) -> ssl.SSLContext:
        """The context listeners hand to asyncio: its SNI callback swaps in the context
        of the certificate for the name asked for. With `acme_challenges` (the HTTPS
        listener) a name being validated by TLS-ALPN-01 gets its challenge certificate."""
        context = new_server_context()
        context.load_cert_chain(self.default_cert, self.default_key)
        callback = self._select_with_challenges if acme_challenges else self._select
        context.sni_callback = callback
        return context

    def _select(self, conn: ssl.SSLObject, server_name: str | None, _base: ssl.SSLContext) -> None:
        try:
            conn.context = self.context_for(server_name)
        except Exception as exc:  # a broken file must not end every handshake
            log.error("tls: cannot load a certificate: %s", exc)

    def _select_with_challenges(
        self, conn: ssl.SSLObject, server_name: str | None, base: ssl.SSLContext
    ) -> None:
        challenge = self._challenge(server_name) if server_name else None
        if challenge is not None:
            conn.context = challenge
            return
        self._select(conn, server_name, base)

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        return self.select(server_name).context

    def select(self, server_name: str | None) -> _Loaded:
        """The certificate a handshake for `server_name` gets (None: no SNI)."""
        self._refresh()
        for name in (server_name, self.hostname):
            if name:
                name = name.lower().rstrip(".")
                found = self._by_name.get(name)
                head, _, rest = name.partition(".")
                if found is None and head and rest:
                    found = self._by_name.get("*." + rest)
                if found is not None:
                    return found
        assert self._default is not None
        return self._default

    def info_for(self, server_name: str | None) -> tuple[Path, CertInfo]:
        """The file and the certificate served for a name (for `postfach cert`)."""
        chosen = self.select(server_name)
        for file_name, loaded in self._issued.items():
            if loaded is chosen:
                return self.files.certs_dir / file_name, loaded.info
        return self.default_cert, chosen.info

    def issued(self) -> dict[Path, CertInfo]:
        self._refresh()
        return {self.files.certs_dir / n: loaded.info for n, loaded in self._issued.items()}

    def _refresh(self) -> None:
        """Two stats when nothing changed: the default certificate, and the folder of
        issued ones, whose mtime moves when a file is renamed into it. A folder changed
        in the last seconds is read again at every handshake: file times are coarse, a
        second change within the same tick would not show."""
        stat = os.stat(self.default_cert)
        if self._default is None or self._default.stamp != _stamp(stat):
            context, info = _load(self.default_cert, self.default_key)
            self._default = _Loaded(_stamp(stat), context, info)
        try:
            folder = os.stat(self.files.certs_dir)
        except FileNotFoundError:
            self._issued.clear()
            self._by_name.clear()
            self._folder_stamp = None
            return
        stamp = _stamp(folder)
        settled = time.time() - folder.st_mtime > FOLDER_SETTLE
        if stamp == self._folder_stamp and settled:
            return
        self._folder_stamp = stamp
        if self._scan():
            self._index()

    def _scan(self) -> bool:
        """Loads new and changed files of certs/; True when anything changed."""
        changed = False
        seen: set[str] = set()
        for entry in os.scandir(self.files.certs_dir):
            if not entry.name.endswith(".pem") or entry.name.startswith("."):
                continue
            seen.add(entry.name)
            known = self._issued.get(entry.name)
            try:
                stamp = _stamp(entry.stat())
                if known is not None and known.stamp == stamp:
                    continue
                context, info = _load(Path(entry.path))
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.error("tls: cannot load %s: %s", entry.path, exc)
                continue
            self._issued[entry.name] = _Loaded(stamp, context, info)
            changed = True
            log.info("tls: loaded %s (%s, until %s)", entry.name, ", ".join(info.names),
                     info.not_after.isoformat())  # fmt: skip
        for gone in set(self._issued) - seen:
            del self._issued[gone]
            changed = True
        return changed

    def _index(self) -> None:
        """Each name (or `*.domain`) to the certificate covering it that lasts longest."""
        by_name: dict[str, _Loaded] = {}
        for loaded in sorted(self._issued.values(), key=lambda item: item.info.not_after):
            for name in loaded.info.names:
                by_name[name.lower().rstrip(".")] = loaded
        self._by_name = by_name

    def _challenge(self, server_name: str) -> ssl.SSLContext | None:
        name = server_name.lower().rstrip(".")
        if not _HOST_NAME.fullmatch(name):  # it becomes a file name
            return None
        path = self.files.challenge_cert(name)
        try:
            stamp = _stamp(path.stat())
        except FileNotFoundError:
            self._challenges.pop(server_name, None)
            return None
        known = self._challenges.get(server_name)
        if known is None or known.stamp != stamp:
            try:
                context, info = _load(path)
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.error("tls: cannot load challenge certificate %s: %s", path, exc)
                return None
            context.set_alpn_protocols([ACME_TLS_ALPN])
            known = self._challenges[server_name] = _Loaded(stamp, context, info)
        return known.context
