"""Plain words for what went wrong: DNS, a refused or impossible login, the sender.

Kept apart from the probe so the web page and the tests see one wording.
"""

from __future__ import annotations

import socket

from postfach.clientsetup.checks import CheckResult, Status, Step, Target, usual_ports
from postfach.clientsetup.dialogs import Reply, Verdict

__all__ = [
    "disabled_hint",
    "dns_words",
    "login_result",
    "no_login_words",
    "send_as_result",
]


def disabled_hint(protocol: str, address: str, own: bool) -> str:
    if own:
        return (
            f"switch {protocol} on: `postfach user set {address} {protocol.lower()}=on`,"
            " or on the account's settings page"
        )
    return (
        f"switch {protocol} access on in the provider's web settings"
        " (e.g. Settings → Mail programs), then try again"
    )


def _words(t: Target, user: str, verdict: Verdict) -> tuple[Status, str, str]:
    p = t.protocol
    table: dict[Verdict, tuple[Status, str, str]] = {
        Verdict.OK: (Status.PASS, f"logged in as {user}", ""),
        Verdict.BAD_CREDENTIALS: (
            Status.FAIL,
            f"the server refused the login: wrong password or user name ({user})",
            "type the password again (no stored copy); the user name is usually the full"
            " address; an app password works too",
        ),
        Verdict.DISABLED: (
            Status.FAIL,
            f"{p} is switched off for this account",
            disabled_hint(p, user, own=False),
        ),
        Verdict.BAD_OR_DISABLED: (
            Status.FAIL,
            f"the server refused the login: either the password is wrong or {p} is"
            " switched off for this account",
            f"check the password; if it works elsewhere, switch {p} on for the account",
        ),
        Verdict.APP_PASSWORD: (
            Status.FAIL,
            "the server wants an app password, not the account password",
            "create an app password in the provider's security settings and enter it in"
            " the mail program instead of the password",
        ),
        Verdict.WEB_SIGN_IN: (
            Status.FAIL,
            "the provider blocked this sign-in until you confirm it on its web page",
            "sign in on the provider's web page once and confirm the new program, or use an"
            " app password",
        ),
        Verdict.NEED_TLS: (
            Status.FAIL,
            "the server refuses passwords over an unencrypted connection",
            f"choose SSL/TLS or STARTTLS ({usual_ports(p)})",
        ),
        Verdict.THROTTLED: (
            Status.FAIL,
            "too many failed logins: the server refuses logins for a while",
            "wait a few minutes, and correct the password in every program and phone that"
            " uses this account",
        ),
        Verdict.NOT_OFFERED: (
            Status.FAIL,
            f"port {t.port} does not accept logins",
            f"mail programs use {usual_ports(p)}",
        ),
        Verdict.OTHER: (Status.FAIL, "the server refused the login", "see the server's words"),
    }
    return table[verdict]


def login_result(t: Target, user: str, verdict: Verdict, server_words: str) -> CheckResult:
    status, summary, hint = _words(t, user, verdict)
    return CheckResult(t.protocol, Step.LOGIN, status, summary, hint, server_words, t.label)


def send_as_result(t: Target, address: str, reply: Reply, logged_in: bool) -> CheckResult:
    """RFC 5321 §4.1.1.2 MAIL FROM: 250 accepted, 553/550 refused, 530 needs AUTH first."""

    def result(status: Status, summary: str, hint: str = "") -> CheckResult:
        return CheckResult(t.protocol, Step.SEND_AS, status, summary, hint, reply.text, t.label)

    if reply.code == 250:
        if not logged_in and t.port == 25:
            return result(
                Status.WARN,
                f"the server accepts {address} as sender without a login,"
                " but only for its own recipients: port 25 is for mail between"
                " servers",
                f"mail programs send on {usual_ports('SMTP')}",
            )
        return result(Status.PASS, f"the server accepts {address} as the sender")
    if reply.code == 530 or "authentication required" in reply.text.lower():
        return result(
            Status.FAIL,
            "authentication required: the server wants a login before it accepts mail to send",
            'switch on "outgoing server requires authentication" (SMTP AUTH) with'
            " the same user name and password as for incoming mail",
        )
    if reply.code in (550, 553, 554) and ("5.7.1" in reply.text or "owned" in reply.text):
        return result(
            Status.FAIL,
            f"the server does not let this account send as {address}",
            "put the account's own address (or one of its aliases) in the From field"
            " of the mail program",
        )
    return result(
        Status.FAIL, f"the server refused {address} as the sender", "see the server's words"
    )


def dns_words(host: str, exc: BaseException) -> tuple[str, str, str]:
    code = getattr(exc, "errno", None)
    if code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
        return (
            f"the server name {host} does not exist",
            "check the spelling of the server name in the mail program",
            str(exc),
        )
    return (
        f"the server name {host} could not be resolved",
        "check the server name and this computer's internet connection",
        str(exc),
    )


def no_login_words(t: Target, tls: bool) -> tuple[str, str]:
    if not tls:
        return (
            "the server accepts no password over an unencrypted connection",
            f"choose SSL/TLS or STARTTLS ({usual_ports(t.protocol)})",
        )
    if t.protocol == "SMTP":
        return (
            f"port {t.port} offers no login (SMTP AUTH)",
            f"port 25 is for mail between servers; mail programs send on {usual_ports('SMTP')}",
        )
    return ("the server offers no login method a mail program can use", "ask the server's operator")
