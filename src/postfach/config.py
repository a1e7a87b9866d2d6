"""The configuration file: TOML into frozen dataclasses, every key defaulted.

An unknown key or a bad value raises `ConfigError` with one line that names the
key and the file; `postfach` prints it and stops.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from postfach.config_sections import (
    AcmeConfig,
    LogConfig,
    MetricsConfig,
    MtaStsConfig,
    ProxyConfig,
    SieveConfig,
)

__all__ = [
    "LogConfig",
    "MetricsConfig",
    "MtaStsConfig",
    "SieveConfig",
    "AuthConfig",
    "Config",
    "ConfigError",
    "AcmeConfig",
    "ListenerSpec",
    "MxConfig",
    "ProxyConfig",
    "SpamConfig",
    "find_config_file",
    "load_config",
]

LISTENER_NAMES = (
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "http",
    "https",
    "devices",
    "metrics",
    "managesieve",
)
# Listeners spoken over TLS from the first byte.
IMPLICIT_TLS = frozenset({"submissions", "imaps", "pop3s"})


class ConfigError(Exception):
    """A bad configuration: the message is the one line shown to the operator."""


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str
    host: str
    port: int

    @property
    def implicit_tls(self) -> bool:
        return self.name in IMPLICIT_TLS


@dataclass(frozen=True, slots=True)
class ServerConfig:
    hostname: str = "mail.example.org"
    data_dir: str = "data"
    # The name and ports mail programs are told (autoconfig, settings) when
    # postfach sits behind a proxy or NAT; empty: hostname and listener ports.
    public_name: str = ""
    # Processes `postfach serve` runs, sharing the listening sockets; 0: one per
    # CPU core and one more, which keeps the cores busy while a worker waits on disk.
    workers: int = 0
    # Seconds a worker's event loop may stand still before the supervisor kills and
    # replaces it (a runaway computation must not freeze every session); 0: never.
    worker_stall_timeout: float = 30.0
    # Seconds a node's hold on outbound mail it is sending, or on a POP3 maildrop,
    # outlives the node: renewed every third of it while held, so a killed node's
    # mail moves again and its POP3 user gets in again this long after the kill.
    lease_time: float = 30.0
    # Who gets postmaster@ and abuse@ of every domain that has no account or alias
    # of that name (RFC 5321 §4.5.1); empty: the first account made (the operator's).
    postmaster: str = ""

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1) + 1


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = "sqlite:///data/postfach.db"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class ListenersConfig:
    smtp: str = "0.0.0.0:25"
    submission: str = "0.0.0.0:587"
    submissions: str = "0.0.0.0:465"
    imap: str = "0.0.0.0:143"
    imaps: str = "0.0.0.0:993"
    pop3: str = "0.0.0.0:110"
    pop3s: str = "0.0.0.0:995"
    # Plain HTTP: with an https listener only ACME's HTTP-01 challenges and
    # autoconfig, everything else is redirected to HTTPS (except in --dev).
    http: str = "0.0.0.0:80"
    https: str = "0.0.0.0:443"
    devices: str = ""
    # /metrics, /healthz and /readyz without authentication: for a private address.
    metrics: str = ""
    managesieve: str = "0.0.0.0:4190"  # RFC 5804; STARTTLS


@dataclass(frozen=True, slots=True)
class AuthConfig:
    allow_plaintext: bool = False
    # Throttling of failed logins (auth/throttle.py): per user and address, per
    # address, and a high ceiling per user that addresses the user logged in
    # from within known_address_ttl are not held by.
    max_failures: int = 5
    address_max_failures: int = 20
    user_max_failures: int = 100
    failure_window: float = 300.0
    lockout: float = 300.0
    known_address_ttl: float = 30 * 86400.0
    cache_ttl: float = 60.0


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    trash_days: float = 30.0
    spam_days: float = 10.0
    interval: float = 3600.0


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    max_connections_per_ip: int = 50
    idle_timeout: float = 1800.0  # IMAP wants at least 30 minutes (RFC 9051 §5.4)
    smtp_timeout: float = 300.0
    # Open connections per listener and process; 0: what the file-descriptor limit
    # (RLIMIT_NOFILE) allows after a reserve for the store and logs (net.fd_budget).
    max_connections: int = 0
    # Seconds an IMAP or POP3 connection may take to log in: until then it holds
    # a slot no user has claimed, so it gets far less than idle_timeout.
    preauth_timeout: float = 60.0
    # Seconds an SMTP session may take to reach MAIL FROM or AUTH, in total. RFC 5321
    # §4.5.3.2 grants 5 minutes per command wait; this bounds a session that only
    # trickles EHLO/NOOP/RSET to the same 5 minutes altogether.
    smtp_preauth_timeout: float = 300.0
    # HTTP: seconds for a request's whole header block (slow-header clients), and
    # the longest pause inside a request body.
    http_header_timeout: float = 15.0
    http_body_timeout: float = 30.0
    # Sieve scripts (ManageSieve and the web's rules page): octets of one script,
    # and scripts one account may keep.
    sieve_max_script_size: int = 256 * 1024
    sieve_max_scripts: int = 32
    # Messages whose SELECT index one process keeps for big mailboxes in all
    # (imap/indexcache.py, about 88 bytes each); 0: none kept.
    imap_index_cache_messages: int = 200_000


@dataclass(frozen=True, slots=True)
class QueueConfig:
    relay_host: str = ""  # "host:port": every outbound message goes there
    max_age: float = 5 * 86400.0
    retry_base: float = 60.0
    connections_per_destination: int = 4
    delay_warning: float = 4 * 3600.0  # "delayed" report after this long; 0: never


@dataclass(frozen=True, slots=True)
class MailingConfig:
    forbid_port_25: bool = True
    # Base of the one-click unsubscribe links; empty: https://{public_name}.
    unsubscribe_url: str = ""
    bounce_interval: float = 900.0  # seconds between bounce-mailbox checks


@dataclass(frozen=True, slots=True)
class DnsConfig:
    # Resolvers for the MX's sender checks, "IP" or "IP:PORT"; empty: /etc/resolv.conf.
    nameservers: tuple[str, ...] = ()
    timeout: float = 2.0  # seconds per look-up; a timeout defers the message (451 4.4.3)


@dataclass(frozen=True, slots=True)
class MxConfig:
    """Checks on unauthenticated mail at the MX (port 25)."""

    # Own domains that mail from outside (no AUTH) may still name in MAIL FROM or
    # From: (e.g. a newsletter service sending as the domain); others get 550 5.7.1.
    allow_unauthenticated_own_domains: tuple[str, ...] = ()
    # DNS blocklist zones asked about the client's address at RCPT, e.g. "zen.spamhaus.org".
    dnsbl: tuple[str, ...] = ()
    # "HOST:PORT" of the resolver for those look-ups; empty: the system's. Spamhaus
    # answers no public resolver, so an MX asks its own (unbound on 127.0.0.1).
    dnsbl_resolver: str = ""
    dnsbl_timeout: float = 2.0  # seconds per zone; no answer in time: not listed
    greylist: bool = False  # 451 to a new (network, sender, recipient) until greylist_delay
    greylist_delay: float = 300.0
    greylist_expire: float = 36 * 86400.0  # a triplet seen to retry passes this long


@dataclass(frozen=True, slots=True)
class SpamConfig:
    # rspamd's scanner ("http://127.0.0.1:11333") as the scorer; empty: built in.
    rspamd: str = ""
    # Its controller, for /learnspam and /learnham; empty: the scanner's host, port 11334.
    rspamd_controller: str = ""
    rspamd_password: str = ""  # the controller's password, if it has one
    rspamd_timeout: float = 10.0  # seconds; no answer in time: "unscanned", mail accepted
    # Score (X-Spam-Score) at which mail from outside is filed in the recipient's
    # Spam folder, and at which it is refused at DATA; an account may set its own.
    file_threshold: float = 5.0
    reject_threshold: float = 15.0
    # Seconds the MX waits between its greeting's first and last line; a client that
    # speaks in between scores EARLY_TALKER. 0: greet at once (off).
    greet_pause: float = 0.0
    # The classifier scores an account's mail once it has learnt this many messages
    # of each kind (moved into Spam, and out of it): before, common words would
    # look like spam merely because no ham was learnt yet.
    bayes_min_learnt: int = 5


@dataclass(frozen=True, slots=True)
class ImportsConfig:
    # The web settings page's IMAP import may reach loopback and private addresses
    # (off: only public ones, so the form cannot probe the server's own network).
    web_private_hosts: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    acme: AcmeConfig = field(default_factory=AcmeConfig)
    mta_sts: MtaStsConfig = field(default_factory=MtaStsConfig)
    listeners: ListenersConfig = field(default_factory=ListenersConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    mailing: MailingConfig = field(default_factory=MailingConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    mx: MxConfig = field(default_factory=MxConfig)
    spam: SpamConfig = field(default_factory=SpamConfig)
    imports: ImportsConfig = field(default_factory=ImportsConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    sieve: SieveConfig = field(default_factory=SieveConfig)
    # Per-domain routes for outbound mail: {"example.net": "127.0.0.1:2526"}.
    transport: dict[str, str] = field(default_factory=dict)
    # Ports mail programs are told when a proxy or NAT maps them: {"imaps": 993}.
    public_ports: dict[str, int] = field(default_factory=dict)
    source: str = "built-in defaults"
    dev: bool = False

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def public_name(self) -> str:
        return self.server.public_name or self.server.hostname

    def listeners_enabled(self) -> list[ListenerSpec]:
        specs = []
        for name in LISTENER_NAMES:
            value = getattr(self.listeners, name)
            if value:
                host, port = parse_host_port(value, f"listeners.{name}", self.source)
                specs.append(ListenerSpec(name, host, port))
        return specs

    def listener(self, name: str) -> ListenerSpec | None:
        return next((s for s in self.listeners_enabled() if s.name == name), None)

    def public_port(self, spec: ListenerSpec) -> int:
        """The port mail programs should use for a listener (R27, R28)."""
        return self.public_ports.get(spec.name, spec.port)


def parse_host_port(value: str, key: str, source: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{source}: {key} = {value!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port_text)


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "storage": StorageConfig,
    "tls": TlsConfig,
    "acme": AcmeConfig,
    "mta_sts": MtaStsConfig,
    "listeners": ListenersConfig,
    "auth": AuthConfig,
    "retention": RetentionConfig,
    "limits": LimitsConfig,
    "queue": QueueConfig,
    "mailing": MailingConfig,
    "dns": DnsConfig,
    "mx": MxConfig,
    "spam": SpamConfig,
    "imports": ImportsConfig,
    "proxy": ProxyConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "sieve": SieveConfig,
}


def _coerce(value: object, kind: str, key: str, source: str) -> object:
    """Checks a TOML value against the field's declared type."""
    bad = ConfigError(f"{source}: {key} = {value!r}: expected {kind}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind in ("int", "float"):
        numeric = int | float if kind == "float" else int
        if isinstance(value, bool) or not isinstance(value, numeric) or value < 0:
            raise bad
        return float(value) if kind == "float" else value
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "tuple[str, ...]" and isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return tuple(value)
    raise bad


def _section(cls: type[Any], data: object, name: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    kinds = {f.name: str(f.type) for f in fields(cls)}
    values: dict[str, object] = {}
    for key, value in data.items():
        if key not in kinds:
            raise ConfigError(f"{source}: unknown key {name}.{key}")
        values[key] = _coerce(value, kinds[key], f"{name}.{key}", source)
    return cls(**values)


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    sections: dict[str, Any] = {}
    transport: dict[str, str] = {}
    public_ports: dict[str, int] = {}
    for name, value in data.items():
        if name == "public_ports":
            public_ports = _public_ports(value, source)
        elif name == "transport":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f'{source}: [transport] maps domains to "HOST:PORT" strings')
            for domain, target in value.items():
                parse_host_port(target, f"transport.{domain}", source)
                transport[domain.lower()] = target
        elif name in _SECTIONS:
            sections[name] = _section(_SECTIONS[name], value, name, source)
        else:
            raise ConfigError(f"{source}: unknown section [{name}]")
    config = Config(**sections, transport=transport, public_ports=public_ports, source=source)
    config.listeners_enabled()  # validates every HOST:PORT
    if config.mta_sts.mode not in ("testing", "enforce", "none"):
        raise ConfigError(f"{source}: mta_sts.mode must be testing, enforce or none")
    for challenge in config.acme.challenges:
        if challenge not in ("http-01", "tls-alpn-01"):
            raise ConfigError(f"{source}: acme.challenges: unknown challenge {challenge!r}")
    if config.mx.dnsbl_resolver:
        parse_host_port(config.mx.dnsbl_resolver, "mx.dnsbl_resolver", source)
    _check_proxy(config.proxy, source)
    if config.log.format not in ("text", "json"):
        raise ConfigError(
            f'{source}: log.format = {config.log.format!r}: expected "text" or "json"'
        )
    return _resolve_paths(config, Path(source).parent if source.endswith(".toml") else None)


def _check_proxy(proxy: ProxyConfig, source: str) -> None:
    for network in proxy.trusted:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: proxy.trusted: {network!r} is not an address or network"
            ) from None
    for name in proxy.protocol_listeners:
        if name in ("http", "metrics"):
            raise ConfigError(
                f"{source}: proxy.protocol_listeners: {name} takes X-Forwarded-For, not PROXY"
            )
        if name not in LISTENER_NAMES:
            raise ConfigError(f"{source}: proxy.protocol_listeners: unknown listener {name!r}")


def _public_ports(value: object, source: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: [public_ports] maps listener names to port numbers")
    ports: dict[str, int] = {}
    for name, port in value.items():
        if name not in LISTENER_NAMES:
            raise ConfigError(f"{source}: unknown key public_ports.{name}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{source}: public_ports.{name} = {port!r}: expected a port number")
        ports[name] = port
    return ports


def _resolve_paths(config: Config, base: Path | None) -> Config:
    """Relative data_dir and sqlite paths are relative to the config file's folder."""
    if base is None:
        return config
    data_dir = Path(config.server.data_dir)
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    url = config.storage.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
        url = prefix + str((base / url[len(prefix) :]).resolve())
    return replace(
        config,
        server=replace(config.server, data_dir=str(data_dir.resolve())),
        storage=replace(config.storage, url=url),
    )


def find_config_file(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("POSTFACH_CONFIG")
    if env:
        return Path(env)
    local = Path("postfach.toml")
    return local if local.exists() else None


def load_config(explicit: str | None = None) -> Config:
    path = find_config_file(explicit)
    if path is None:
        return config_from_dict({}, "built-in defaults")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config_from_dict(data, str(path))


def dev_config(base: Path) -> Config:
    """`postfach serve --dev`: everything on high ports of loopback, data in ./dev-data."""
    data_dir = (base / "dev-data").resolve()
    return Config(
        server=ServerConfig(hostname="localhost", data_dir=str(data_dir), workers=1),
        storage=StorageConfig(url=f"sqlite:///{data_dir / 'postfach.db'}"),
        listeners=ListenersConfig(
            smtp="127.0.0.1:1025",
            submission="127.0.0.1:1587",
            submissions="127.0.0.1:1465",
            imap="127.0.0.1:1143",
            imaps="127.0.0.1:1993",
            pop3="127.0.0.1:1110",
            pop3s="127.0.0.1:1995",
            http="127.0.0.1:8025",
            https="127.0.0.1:8443",
            managesieve="127.0.0.1:14190",
        ),
        auth=AuthConfig(allow_plaintext=True),
        source="--dev",
        dev=True,
    )
