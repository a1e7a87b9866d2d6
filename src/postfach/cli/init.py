"""`postfach init`: a commented config file, the database and a self-signed certificate."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

from postfach.cli.admin import _dkim_key
from postfach.config import load_config
from postfach.net.tls import cert_paths
from postfach.store import Store

__all__ = ["register", "render_config"]

TEMPLATE = """\
# postfach configuration. Every key has a default; delete what you do not change.
# Reference: README.md, "Configuration".

[server]
hostname = "{hostname}"          # the name in greetings, Received lines and certificates
data_dir = "{data_dir}"          # database, certificate, DKIM keys (relative to this file)
public_name = ""                 # name mail programs are told, if not hostname (proxy, NAT)
workers = 0                      # processes sharing the listeners; 0: CPU cores + 1
worker_stall_timeout = 30.0      # a worker whose loop stands still this long is replaced
lease_time = 30.0                # a dead node's hold on outbound mail / POP3 lock ends after this
postmaster = ""                  # gets postmaster@ and abuse@ of every domain; "": first account

[storage]
url = "{storage_url}"
# url = "postgresql://postfach@db.example.org/postfach"   # several nodes, one database

[tls]
cert = ""                        # PEM files of a real certificate; empty: self-signed in data_dir
key = ""

[acme]                           # certificates from Let's Encrypt (or another ACME CA)
enabled = false                  # also on when email is set; needs http (80) or https (443)
email = ""                       # the account's contact address
directory = "https://acme-v02.api.letsencrypt.org/directory"
ca_bundle = ""                   # CA certificates to trust for the directory; "": the system's
challenges = ["http-01", "tls-alpn-01"]  # the ways to prove the names, preferred first
check_interval = 43200.0         # seconds between checks for certificates to renew

[mta_sts]                        # the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt
mode = "testing"                 # testing, enforce or none
max_age = 604800                 # seconds senders keep the policy

[listeners]                      # "" turns a listener off
smtp = "0.0.0.0:25"              # MX; STARTTLS offered; no relay without AUTH
submission = "0.0.0.0:587"       # STARTTLS, AUTH required
submissions = "0.0.0.0:465"      # implicit TLS, AUTH required
imap = "0.0.0.0:143"             # STARTTLS
imaps = "0.0.0.0:993"
pop3 = "0.0.0.0:110"             # STLS
pop3s = "0.0.0.0:995"
http = "0.0.0.0:80"              # ACME, autoconfig; the rest redirects to https
https = "0.0.0.0:443"            # webmail, settings, admin API, autoconfig, MTA-STS
devices = ""                     # plaintext AUTH for scanners; local recipients only
metrics = ""                     # e.g. "10.0.0.5:9100": /metrics, /healthz, /readyz, no login
managesieve = "0.0.0.0:4190"     # Sieve scripts (RFC 5804); STARTTLS

[auth]
allow_plaintext = false          # LOGIN/USER/AUTH before TLS on plain ports
max_failures = 5                 # failed logins for one user from one address within
failure_window = 300.0           # ... failure_window seconds: refused for lockout seconds
lockout = 300.0
address_max_failures = 20        # the same for one address, whatever the users
user_max_failures = 100          # one user from all addresses; addresses the user
known_address_ttl = 2592000.0    # ... logged in from within this many seconds still may
cache_ttl = 60.0                 # seconds a successful login is remembered

[retention]
trash_days = 30                  # Trash keeps messages this long, counted from deletion
spam_days = 10
interval = 3600.0                # seconds between retention runs

[spam]
file_threshold = 5.0             # mail from outside scoring this much goes to Spam
reject_threshold = 15.0          # ... and this much is refused at DATA (554 5.7.1)
greet_pause = 0.0                # seconds to hold back the greeting to catch early talkers
bayes_min_learnt = 5             # spam and ham messages learnt before the classifier counts
rspamd = ""                      # e.g. "http://127.0.0.1:11333": rspamd scores the mail
rspamd_controller = ""           # for learning; "": the scanner's host, port 11334
rspamd_password = ""
rspamd_timeout = 10.0            # seconds; then the mail is accepted unscanned

[limits]
max_message_size = 52428800      # octets
max_recipients = 100
max_connections_per_ip = 50
max_connections = 0              # per listener and process; 0: from the file-descriptor limit
idle_timeout = 1800.0            # IMAP/POP3 seconds without a command
preauth_timeout = 60.0           # IMAP/POP3 seconds to log in
smtp_timeout = 300.0
smtp_preauth_timeout = 300.0     # SMTP seconds to reach MAIL FROM or AUTH, in total
http_header_timeout = 15.0       # HTTP seconds for a request's header block
http_body_timeout = 30.0         # HTTP seconds a request body may pause
sieve_max_script_size = 262144   # octets of one Sieve script (ManageSieve, rules page)
sieve_max_scripts = 32           # Sieve scripts one account may keep
imap_index_cache_messages = 200000  # SELECT indexes kept per process (~88 bytes each)

[queue]
relay_host = ""                  # "host:port": send all outbound mail there
max_age = 432000.0               # seconds before a message bounces (5 days)
retry_base = 60.0                # first retry after this many seconds, doubling
connections_per_destination = 4
delay_warning = 14400.0          # send a "delayed" report after this long (0: never)

[mailing]
forbid_port_25 = true            # refuse external relays on port 25
unsubscribe_url = ""             # base of unsubscribe links; empty: https://public_name
bounce_interval = 900.0          # seconds between bounce-mailbox checks

[dns]
nameservers = []                 # resolvers for the MX's SPF/DKIM/DMARC checks ("IP" or
                                 # "IP:PORT"); empty: /etc/resolv.conf
timeout = 2.0                    # seconds per look-up; a failure defers mail (451 4.4.3)

[mx]                             # checks on unauthenticated mail at port 25
allow_unauthenticated_own_domains = []   # own domains mail from outside may still use
                                         # in MAIL FROM / From: (else 550 5.7.1)
dnsbl = []                       # blocklist zones, e.g. ["zen.spamhaus.org"]: 554 at RCPT
dnsbl_resolver = ""              # "host:port" of your own resolver; "": the system's
dnsbl_timeout = 2.0
greylist = false                 # 451 to a new (network, sender, recipient) for a while
greylist_delay = 300.0           # seconds before its retry is taken
greylist_expire = 3110400.0      # seconds (36 days) a known triplet keeps passing

[imports]
web_private_hosts = false        # web page's IMAP import may reach private addresses

[proxy]                          # a load balancer (HAProxy) in front
trusted = ["127.0.0.1/32", "::1/128"]  # its networks: PROXY headers, X-Forwarded-For
protocol_listeners = []          # listeners that require a PROXY header, e.g. ["imaps", "smtp"]
header_timeout = 5.0             # seconds for the PROXY header to arrive

[log]
format = "text"                  # or "json": one object a line, with the session id

[metrics]
token = ""                       # bearer token for /metrics on the http listener

[sieve]
redirects_per_hour = 100         # forwards one account's scripts may send per hour
vacation_max_days = 60           # the longest vacation :days

# [public_ports]                 # ports mail programs are told, when a proxy maps them
# imaps = 993

# [transport]                    # per-domain routes for outbound mail
# "example.net" = "127.0.0.1:2526"
"""


def render_config(hostname: str, data_dir: str) -> str:
    storage_url = f"sqlite:///{Path(data_dir) / 'postfach.db'}"
    return TEMPLATE.format(hostname=hostname, data_dir=data_dir, storage_url=storage_url)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init",
        parents=[common],
        help="write postfach.toml, create the database and a self-signed certificate",
    )
    p.add_argument("--data-dir", default="data", help="where data lives (default: data)")
    p.add_argument("--domain", help="first mail domain to add")
    p.add_argument("--hostname", help="this server's name (default: mail.DOMAIN or the FQDN)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(handler=run_init)


async def run_init(args: argparse.Namespace) -> int:
    path = Path(args.config or "postfach.toml")
    if path.exists() and not args.force:
        raise ValueError(f"{path} exists already (use --force to overwrite)")
    hostname = args.hostname or (f"mail.{args.domain}" if args.domain else socket.getfqdn())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(hostname, args.data_dir), encoding="utf-8")
    config = load_config(str(path))
    config.data_path.mkdir(parents=True, exist_ok=True)
    cert, _key = cert_paths(config)
    store = await Store.connect(config.storage.url)
    try:
        if args.domain and await store.accounts.get_domain(args.domain) is None:
            selector, key = _dkim_key()
            await store.accounts.add_domain(args.domain, selector, key)
    finally:
        await store.close()
    print(f"wrote {path}")
    print(f"database: {config.storage.url}")
    print(f"certificate: {cert} (self-signed for {hostname})")
    if args.domain:
        print(f"domain: {args.domain}")
        print(f"next: postfach user add someone@{args.domain} --config {path}")
    return 0
