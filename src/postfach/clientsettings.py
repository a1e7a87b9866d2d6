"""The settings a mail program needs for an address on this server (R27).

Used by `serve` at start, by `postfach settings` and by the web pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.config import Config

__all__ = ["ServerSetting", "own_settings", "settings_table"]


@dataclass(frozen=True, slots=True)
class ServerSetting:
    role: str  # "incoming" or "outgoing"
    protocol: str  # IMAP, POP3, SMTP
    host: str
    port: int
    security: str  # "SSL/TLS", "STARTTLS", "none"
    username: str
    note: str = ""


_LISTENER_ROWS = (
    ("imaps", "incoming", "IMAP", "SSL/TLS"),
    ("imap", "incoming", "IMAP", "STARTTLS"),
    ("pop3s", "incoming", "POP3", "SSL/TLS"),
    ("pop3", "incoming", "POP3", "STARTTLS"),
    ("submissions", "outgoing", "SMTP", "SSL/TLS"),
    ("submission", "outgoing", "SMTP", "STARTTLS"),
)


def own_settings(config: Config, address: str) -> list[ServerSetting]:
    host = config.public_name
    rows = []
    for name, role, protocol, security in _LISTENER_ROWS:
        spec = config.listener(name)
        if spec is None:
            continue
        note = "authentication required" if role == "outgoing" else ""
        if protocol == "POP3":
            note = "POP3 must be switched on for the account"
        rows.append(ServerSetting(role, protocol, host, spec.port, security, address, note))
    return rows


def settings_table(config: Config, address: str) -> str:
    rows = own_settings(config, address)
    lines = [f"Mail program settings for {address}:"]
    for s in rows:
        line = (
            f"  {s.role:<9} {s.protocol:<5} {s.host}:{s.port:<6} {s.security:<9} user {s.username}"
        )
        lines.append(line + (f"  ({s.note})" if s.note else ""))
    lines.append("  password: the account's password, or an app password")
    return "\n".join(lines)
