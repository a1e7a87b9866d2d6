"""Mail-program settings of the well-known public providers (R27).

The values come from the providers' public help pages; Yandex and Mail.ru are
exactly as the original guide lists them (server, SSL, port 993/995/465, the
Yandex login rule, the Mail.ru "full address as user name", the Yandex scanner
server `smtp-devices.yandex.com:25`). The guide once writes "smt.mail.ru"; its
other Mail.ru list and Mail.ru itself say `smtp.mail.ru`, which is used here.

A preset is data only: `rows_for(preset, address)` fills in the user name.
"""

from __future__ import annotations

from dataclasses import dataclass

from postfach.clientsetup.own import ServerSetting

__all__ = ["PRESETS", "Preset", "PresetRow", "UserFormat", "find_preset", "rows_for"]


class UserFormat:
    """How the user name is formed from the address."""

    ADDRESS = "full address"
    LOCAL_PART = "local part"
    # Yandex: the part before "@" for login@yandex.ru; the full address for a
    # domain of one's own (Yandex 360), which no preset matches (guide).
    YANDEX = "local part"


SSL = "SSL/TLS"
STARTTLS = "STARTTLS"
NONE = "none"


@dataclass(frozen=True, slots=True)
class PresetRow:
    role: str  # "incoming" or "outgoing"
    protocol: str  # IMAP, POP3, SMTP
    host: str
    port: int
    security: str
    user: str = UserFormat.ADDRESS
    note: str = ""


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    domains: tuple[str, ...]
    rows: tuple[PresetRow, ...]
    notes: tuple[str, ...]
    reference: str  # the provider's help page the values come from


def _std(
    imap: str, pop3: str, smtp: str, *, smtp_ports: tuple[int, ...] = (465,)
) -> tuple[PresetRow, ...]:
    """The common shape: IMAP 993, POP3 995, SMTP on 465 and/or 587 in the order
    the provider recommends them, all with TLS."""
    return (
        PresetRow("incoming", "IMAP", imap, 993, SSL),
        PresetRow("incoming", "POP3", pop3, 995, SSL),
        *(
            PresetRow("outgoing", "SMTP", smtp, port, SSL if port == 465 else STARTTLS)
            for port in smtp_ports
        ),
    )


_APP_PW_NOTE = "with two-step verification on, use an app password, not the account password"

PRESETS: tuple[Preset, ...] = (
    Preset(
        "Yandex",
        ("yandex.ru", "yandex.com", "ya.ru", "yandex.by", "yandex.kz", "yandex.ua", "narod.ru"),
        (
            PresetRow("incoming", "IMAP", "imap.yandex.ru", 993, SSL, UserFormat.YANDEX),
            PresetRow("incoming", "POP3", "pop.yandex.ru", 995, SSL, UserFormat.YANDEX),
            PresetRow("outgoing", "SMTP", "smtp.yandex.ru", 465, SSL, UserFormat.YANDEX),
            PresetRow(
                "outgoing",
                "SMTP",
                "smtp-devices.yandex.com",
                25,
                NONE,
                UserFormat.YANDEX,
                "for scanners without SSL; only to Yandex addresses",
            ),
        ),
        (
            "switch on IMAP or POP3 first: Settings → Mail programs",
            "user name: for login@yandex.ru the part before @, for other domains the full address",
            _APP_PW_NOTE,
        ),
        "https://yandex.com/support/yandex-360/customers/mail/en/mail-clients/others",
    ),
    Preset(
        "Mail.ru",
        ("mail.ru", "inbox.ru", "list.ru", "bk.ru", "internet.ru", "mail.ua"),
        _std("imap.mail.ru", "pop.mail.ru", "smtp.mail.ru"),
        (
            "user name: the full address, e.g. name@mail.ru",
            "outgoing server: authentication on, a plain password (SSL protects it)",
            "mail programs need a password for external applications (Settings → Security)",
        ),
        "https://help.mail.ru/mail/mailer/popsmtp",
    ),
    Preset(
        "Gmail",
        ("gmail.com", "googlemail.com"),
        _std("imap.gmail.com", "pop.gmail.com", "smtp.gmail.com", smtp_ports=(465, 587)),
        (
            "POP must be switched on: Settings → Forwarding and POP/IMAP",
            "sign in with OAuth2 (Sign in with Google); with two-step verification a"
            " password-only program needs an app password",
        ),
        "https://support.google.com/mail/answer/7126229",
    ),
    Preset(
        "Outlook.com",
        (
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.de",
            "outlook.de",
            "hotmail.co.uk",
            "live.de",
        ),
        _std(
            "outlook.office365.com",
            "outlook.office365.com",
            "smtp-mail.outlook.com",
            smtp_ports=(587,),
        ),
        (
            "POP must be switched on: Settings → Mail → Forwarding and IMAP",
            "Microsoft requires modern authentication (OAuth2): choose OAuth2 in the mail"
            " program; a password alone is refused",
        ),
        "https://support.microsoft.com/office/pop-imap-and-smtp-settings-for-outlook-com"
        "-d088b986-291d-42b8-9564-9c414e2aa040",
    ),
    Preset(
        "Yahoo",
        ("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.de", "yahoo.co.uk", "yahoo.fr"),
        _std(
            "imap.mail.yahoo.com",
            "pop.mail.yahoo.com",
            "smtp.mail.yahoo.com",
            smtp_ports=(465, 587),
        ),
        ("an app password is required: Account security → Generate app password",),
        "https://help.yahoo.com/kb/SLN4075.html",
    ),
    Preset(
        "iCloud",
        ("icloud.com", "me.com", "mac.com"),
        (
            PresetRow(
                "incoming",
                "IMAP",
                "imap.mail.me.com",
                993,
                SSL,
                UserFormat.LOCAL_PART,
                "if the name part is refused, try the full address",
            ),
            PresetRow("outgoing", "SMTP", "smtp.mail.me.com", 587, STARTTLS),
        ),
        (
            "iCloud has no POP3",
            "an app-specific password is required (appleid.apple.com → Sign-In and Security)",
        ),
        "https://support.apple.com/102525",
    ),
    Preset(
        "Rambler",
        ("rambler.ru", "lenta.ru", "autorambler.ru", "myrambler.ru", "ro.ru", "rambler.ua"),
        _std("imap.rambler.ru", "pop.rambler.ru", "smtp.rambler.ru"),
        (
            "switch on access by mail programs: Settings → Mail programs"
            ' ("Send mail through the Rambler SMTP server")',
            "the outgoing server needs authentication with the same user name and password",
        ),
        "https://help.rambler.ru/mail/mail-pochtovye-klienty/1275/",
    ),
    Preset(
        "GMX",
        ("gmx.net", "gmx.de", "gmx.at", "gmx.ch"),
        _std("imap.gmx.net", "pop.gmx.net", "mail.gmx.net", smtp_ports=(587, 465)),
        ("POP3 and IMAP must be switched on: E-Mail settings → POP3/IMAP access",),
        "https://hilfe.gmx.net/pop-imap/einschalten.html",
    ),
    Preset(
        "GMX (international)",
        ("gmx.com", "gmx.us", "gmx.co.uk", "gmx.fr", "gmx.es"),
        _std("imap.gmx.com", "pop.gmx.com", "mail.gmx.com", smtp_ports=(587, 465)),
        ("POP3 and IMAP must be switched on: Settings → POP3 & IMAP",),
        "https://support.gmx.com/pop-imap/toggle.html",
    ),
    Preset(
        "WEB.DE",
        ("web.de",),
        _std("imap.web.de", "pop3.web.de", "smtp.web.de", smtp_ports=(587,)),
        ("POP3 and IMAP must be switched on: Settings → POP3/IMAP access",),
        "https://hilfe.web.de/pop-imap/einschalten.html",
    ),
    Preset(
        "T-Online",
        ("t-online.de", "magenta.de"),
        _std(
            "secureimap.t-online.de",
            "securepop.t-online.de",
            "securesmtp.t-online.de",
            smtp_ports=(465, 587),
        ),
        (
            "mail programs need the separate e-mail password (E-Mail Center → Settings"
            " → Password), not the Telekom login password",
        ),
        "https://www.telekom.de/hilfe/apps-dienste/e-mail/programme/posteingangsserver"
        "-postausgangsserver",
    ),
    Preset(
        "Zoho Mail",
        ("zoho.com", "zohomail.com"),
        _std("imap.zoho.com", "pop.zoho.com", "smtp.zoho.com", smtp_ports=(465, 587)),
        (
            "IMAP or POP access must be switched on: Settings → Mail Accounts",
            _APP_PW_NOTE,
            "accounts in the EU data center use imap.zoho.eu, pop.zoho.eu, smtp.zoho.eu",
        ),
        "https://www.zoho.com/mail/help/imap-access.html",
    ),
    Preset(
        "Zoho Mail (EU)",
        ("zohomail.eu", "zoho.eu"),
        _std("imap.zoho.eu", "pop.zoho.eu", "smtp.zoho.eu", smtp_ports=(465, 587)),
        ("IMAP or POP access must be switched on: Settings → Mail Accounts", _APP_PW_NOTE),
        "https://www.zoho.com/mail/help/imap-access.html",
    ),
)

_BY_DOMAIN = {domain: preset for preset in PRESETS for domain in preset.domains}


def find_preset(domain: str) -> Preset | None:
    return _BY_DOMAIN.get(domain.strip().lower().rstrip("."))


def user_name(user_format: str, address: str) -> str:
    """A preset only ever answers for its own domains, so the Yandex rule is the local part."""
    if user_format in (UserFormat.LOCAL_PART, UserFormat.YANDEX):
        return address.rpartition("@")[0]
    return address


def rows_for(preset: Preset, address: str) -> list[ServerSetting]:
    return [
        ServerSetting(
            r.role, r.protocol, r.host, r.port, r.security, user_name(r.user, address), r.note
        )
        for r in preset.rows
    ]
