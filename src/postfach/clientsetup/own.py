"""This server's own settings table: what a mail program needs for an address here (R27).

Used by `serve` at start, by `postfach settings` (postfach.clientsetup.settings,
which adds presets and discovery for other domains) and by the web pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.config import Config
from postfach.store.records import Account

__all__ = ["ServerSetting", "own_notes", "own_settings", "settings_table"]


@dataclass(frozen=True, slots=True)
class ServerSetting:
    role: str  # "incoming" or "outgoing"
    protocol: str  # IMAP, POP3, SMTP
    host: str
    port: int
    security: str  # "SSL/TLS", "STARTTLS", "none"
    username: str
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "protocol": self.protocol,
            "server": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "note": self.note,
        }


# Implicit TLS first: RFC 8314 §3 recommends it over STARTTLS.
_LISTENER_ROWS = (
    ("imaps", "incoming", "IMAP", "SSL/TLS"),
    ("imap", "incoming", "IMAP", "STARTTLS"),
    ("pop3s", "incoming", "POP3", "SSL/TLS"),
    ("pop3", "incoming", "POP3", "STARTTLS"),
    ("submissions", "outgoing", "SMTP", "SSL/TLS"),
    ("submission", "outgoing", "SMTP", "STARTTLS"),
    ("devices", "outgoing", "SMTP", "none"),
)


def _row_note(protocol: str, name: str, account: Account | None) -> str:
    if name == "devices":
        return "for scanners without TLS; only to this server's own addresses"
    if protocol == "SMTP":
        return "authentication required"
    if protocol == "IMAP" and account is not None and not account.imap_enabled:
        return "IMAP is switched off for this account"
    if protocol == "POP3":
        if account is not None and account.pop3_enabled:
            return ""
        if account is not None:
            return "POP3 is switched off for this account"
        return "POP3 must be switched on for the account"
    return ""


def own_settings(
    config: Config, address: str, account: Account | None = None
) -> list[ServerSetting]:
    """One row per enabled client listener, as the server is reached from outside."""
    host = config.public_name
    rows = []
    for name, role, protocol, security in _LISTENER_ROWS:
        spec = config.listener(name)
        if spec is None:
            continue
        note = _row_note(protocol, name, account)
        port = config.public_port(spec)
        rows.append(ServerSetting(role, protocol, host, port, security, address, note))
    return rows


def own_notes(config: Config, address: str, account: Account | None = None) -> list[str]:
    """What a user must know beyond the table: password, switches, certificate."""
    notes = ["password: the account's password, or an app password made for the program"]
    if account is not None and not account.imap_enabled:
        notes.append(f"IMAP is switched off: postfach user set {address} imap=on")
    if account is not None and not account.pop3_enabled:
        notes.append(f"POP3 is switched off: postfach user set {address} pop3=on")
    if not (config.tls.cert and config.tls.key):
        notes.append(
            "the server uses a self-signed certificate: the mail program asks once to"
            " accept it (install a real certificate to avoid that)"
        )
    return notes


def settings_table(config: Config, address: str, account: Account | None = None) -> str:
    rows = own_settings(config, address, account)
    lines = [f"Mail program settings for {address}:"]
    for s in rows:
        line = (
            f"  {s.role:<9} {s.protocol:<5} {s.host}:{s.port:<6} {s.security:<9} user {s.username}"
        )
        lines.append(line + (f"  ({s.note})" if s.note else ""))
    lines.append("  password: the account's password, or an app password")
    return "\n".join(lines)
