"""`postfach settings ADDR`: what a mail program needs for any address (R27).

The answer comes from the first source that knows the domain:

1. postfach itself, when the domain is one of the store's domains (config ports,
   public name, and the account's switches);
2. a built-in preset of a public provider (postfach.clientsetup.presets);
3. the domain's autoconfig file or RFC 6186 SRV records (postfach.clientsetup.discover),
   when discovery is allowed;
4. otherwise a clear "unknown".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postfach.clientsetup.discover import Discovery
from postfach.clientsetup.own import ServerSetting, own_notes, own_settings
from postfach.clientsetup.presets import find_preset, rows_for
from postfach.config import Config
from postfach.store.api import StoreApi

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["MailSettings", "lookup_settings", "print_settings", "split_address"]

SOURCES = ("postfach", "preset", "autoconfig", "srv", "unknown")


@dataclass(frozen=True, slots=True)
class MailSettings:
    address: str
    source: str  # one of SOURCES
    rows: list[ServerSetting] = field(default_factory=list)
    provider: str = ""
    notes: tuple[str, ...] = ()
    reference: str = ""

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def to_dict(self) -> dict[str, object]:
        return {
            "address": self.address,
            "domain": split_address(self.address)[1],
            "source": self.source,
            "provider": self.provider,
            "servers": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
            "reference": self.reference,
        }


def split_address(address: str) -> tuple[str, str]:
    """(local part, lower-case domain); ValueError for anything that is no address."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain or "." not in domain or " " in address.strip():
        raise ValueError(f"not an e-mail address: {address!r}")
    return local, domain


async def _own(address: str, domain: str, config: Config, store: StoreApi) -> MailSettings | None:
    if domain not in {d.name.lower() for d in await store.accounts.list_domains()}:
        return None
    account = await store.accounts.get_account(address.lower())
    notes = own_notes(config, address, account)
    if account is None:
        notes.insert(0, f"there is no account {address} on this server yet")
    rows = own_settings(config, address, account)
    return MailSettings(address, "postfach", rows, config.public_name, tuple(notes), config.source)


async def lookup_settings(
    address: str,
    *,
    config: Config | None = None,
    store: StoreApi | None = None,
    discovery: Discovery | None = None,
) -> MailSettings:
    """The settings for `address`; `discovery=None` means: no network lookups."""
    local, domain = split_address(address)
    address = f"{local}@{domain}"
    if config is not None and store is not None:
        own = await _own(address, domain, config, store)
        if own is not None:
            return own
    preset = find_preset(domain)
    if preset is not None:
        rows = rows_for(preset, address)
        return MailSettings(address, "preset", rows, preset.name, preset.notes, preset.reference)
    if discovery is not None:
        found = await discovery.discover(address)
        if found is not None:
            notes = (
                f"found in the domain's {_SOURCE_WORDS[found.source]}; check it with"
                f" `postfach doctor {address}`",
            )
            return MailSettings(
                address, found.source, found.rows, found.provider, notes, found.reference
            )
    return _unknown(address, domain, discovery)


_SOURCE_WORDS = {"autoconfig": "autoconfig file", "srv": "DNS SRV records (RFC 6186)"}


def _unknown(address: str, domain: str, discovery: Discovery | None) -> MailSettings:
    notes = [f"unknown: no preset for {domain}"]
    if discovery is None:
        notes.append("network lookups were not made (autoconfig, SRV records)")
    else:
        notes.append("and neither an autoconfig file nor SRV records were found")
    notes.append(
        f"ask the provider of {domain}; many use imap.{domain} (993, SSL/TLS),"
        f" pop.{domain} (995, SSL/TLS) and smtp.{domain} (465 SSL/TLS or 587 STARTTLS)"
    )
    return MailSettings(address, "unknown", [], "", tuple(notes), "")


# -- output --------------------------------------------------------------------------

_TITLES = {
    "postfach": "this postfach server ({provider})",
    "preset": "{provider} (built-in preset)",
    "autoconfig": "{provider} (autoconfig)",
    "srv": "DNS SRV records",
    "unknown": "unknown",
}


def settings_json(settings: MailSettings) -> str:
    return json.dumps(settings.to_dict(), indent=2, ensure_ascii=False)


def print_settings(settings: MailSettings, console: Console) -> None:
    """A table for people: one row per server, then the notes."""
    from rich.table import Table  # the command line's; the web server never loads rich

    title = _TITLES[settings.source].format(provider=settings.provider or "")
    console.print(f"Mail program settings for {settings.address}: {title}", soft_wrap=True)
    if settings.rows:
        table = Table(show_lines=False)
        for column in ("", "protocol", "server", "port", "security", "user name"):
            table.add_column(column, no_wrap=True)
        table.add_column("note", overflow="fold", min_width=12)
        for row in settings.rows:
            table.add_row(
                row.role,
                row.protocol,
                row.host,
                str(row.port),
                row.security,
                row.username,
                row.note,
            )
        console.print(table)
    for note in settings.notes:
        console.print(f"  • {note}", soft_wrap=True, highlight=False)
    if settings.reference:
        console.print(f"  source: {settings.reference}", soft_wrap=True, highlight=False)
