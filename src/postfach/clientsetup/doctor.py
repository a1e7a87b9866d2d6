"""`postfach doctor` and the web page's check: every server of an address, tried.

`run_checks` is the one entry point: it picks the servers (given targets, or
the settings `postfach settings` would print), probes IMAP, POP3 and SMTP at
the same time (their logins one after another, see loginturns.py), then
draws the conclusions no single probe can:

- a POP3 "login failure or POP3 disabled" is "switched off" when the same
  password logs in over IMAP or SMTP, or when this server's store says so;
- an expired or not-yet-valid certificate is blamed on this computer's clock
  or on the certificate once the server's clock is known.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Sequence

from postfach.clientsetup import clock
from postfach.clientsetup.checks import (
    PROTOCOLS,
    CheckOptions,
    CheckResult,
    Status,
    Step,
    Target,
)
from postfach.clientsetup.dialogs import Verdict
from postfach.clientsetup.discover import Discovery
from postfach.clientsetup.login_words import disabled_hint
from postfach.clientsetup.loginturns import LoginTurns
from postfach.clientsetup.probe import Probe
from postfach.clientsetup.settings import MailSettings, lookup_settings, split_address
from postfach.config import Config
from postfach.store.api import StoreApi
from postfach.store.records import Account

__all__ = ["exit_status", "run_checks", "targets_from_settings"]


def targets_from_settings(settings: MailSettings) -> list[Target]:
    """Per protocol the first (preferred) server of the settings; no device-only rows."""
    targets = []
    for protocol in PROTOCOLS:
        rows = [r for r in settings.rows if r.protocol == protocol]
        rows = [r for r in rows if r.security != "none"] or rows
        if rows:
            r = rows[0]
            targets.append(Target(protocol, r.host, r.port, r.security, r.username))
    return targets


async def run_checks(
    address: str,
    password: str | None = None,
    *,
    targets: Sequence[Target] | None = None,
    config: Config | None = None,
    store: StoreApi | None = None,
    options: CheckOptions | None = None,
    discovery: Discovery | None = None,
) -> list[CheckResult]:
    """Every step for every server of `address`; see CheckResult for what to show.

    `targets` defaults to the address's settings: this server's own (from
    `config` and `store`), a preset, or (with `discovery`) autoconfig/SRV.
    With `password=None` the logins are skipped. Never raises for anything a
    server does; every step is bounded by `options.timeout`.
    """
    options = options or CheckOptions()
    local, domain = split_address(address)
    address = f"{local}@{domain}"
    own = await _own_account(address, domain, store)
    if targets is None:
        settings = await lookup_settings(address, config=config, store=store, discovery=discovery)
        targets = targets_from_settings(settings)
        if not targets:
            return [_no_settings(settings)]
    turns = LoginTurns()  # one wrong password: one failed login, not one per protocol
    probes = [Probe(t, address, password, options, turns) for t in targets]
    await asyncio.gather(*(p.run() for p in probes))
    offset = await _server_clock(probes, options)
    if offset is not None:
        _reconsider_certificates(probes, offset)
    _reconsider_logins(probes, address, own)
    return [r for p in probes for r in p.results]


def exit_status(results: Sequence[CheckResult]) -> int:
    """0 only when no step failed (warnings and skipped logins do not fail)."""
    return 1 if any(r.failed for r in results) else 0


def _no_settings(settings: MailSettings) -> CheckResult:
    return CheckResult(
        "",
        Step.SETUP,
        Status.FAIL,
        f"no server settings are known for {settings.address}",
        "give the servers: --imap HOST:PORT --pop3 HOST:PORT --smtp HOST:PORT"
        " (add /ssl, /starttls or /none)",
        "; ".join(settings.notes),
    )


async def _own_account(address: str, domain: str, store: StoreApi | None) -> Account | bool | None:
    """This server's account (or False: our domain, no such account); None: not ours."""
    if store is None:
        return None
    if domain not in {d.name.lower() for d in await store.accounts.list_domains()}:
        return None
    return await store.accounts.get_account(address) or False


async def _server_clock(probes: list[Probe], options: CheckOptions) -> datetime.timedelta | None:
    samples = [s for p in probes for s in p.clock_samples]
    time_trouble = any(
        r.step is Step.TLS and ("expired" in r.summary or "not yet valid" in r.summary)
        for p in probes
        for r in p.results
    )
    if options.http is not None and time_trouble:
        host, port = options.http
        here = options.now()
        told = await clock.http_date(host, port, options.timeout, tls=port in (443, 8443))
        if told is not None:
            samples.append((told, here))
    return clock.server_offset(samples)


def _reconsider_certificates(probes: list[Probe], offset: datetime.timedelta) -> None:
    for probe in probes:
        if probe.cert is None:
            continue
        facts, trusted = probe.cert
        for index, result in enumerate(probe.results):
            if result.step is Step.TLS and result.status is not Status.PASS:
                better = probe.tls_result(facts, trusted, offset)
                probe.results[index] = dataclasses.replace(better, detail=result.detail)


_REFUSED = (Verdict.BAD_OR_DISABLED, Verdict.BAD_CREDENTIALS, Verdict.DISABLED)


def _reconsider_logins(probes: list[Probe], address: str, own: Account | bool | None) -> None:
    worked = [p.target.protocol for p in probes if p.verdict is Verdict.OK]
    for probe in probes:
        if probe.verdict not in _REFUSED:
            continue
        better = _better_login(probe, address, own, worked)
        if better is not None:
            probe.results = [better if r.step is Step.LOGIN else r for r in probe.results]


def _better_login(
    probe: Probe, address: str, own: Account | bool | None, worked: list[str]
) -> CheckResult | None:
    p = probe.target.protocol
    login = next(r for r in probe.results if r.step is Step.LOGIN)
    if own is False:
        return dataclasses.replace(
            login,
            summary=f"there is no account {address} on this server",
            hint=f"check the address, or create it: `postfach user add {address}`",
        )
    if isinstance(own, Account):
        enabled = {"IMAP": own.imap_enabled, "POP3": own.pop3_enabled}.get(p, True)
        if not enabled:
            return dataclasses.replace(
                login,
                summary=f"{p} is switched off for this account",
                hint=disabled_hint(p, address, own=True),
            )
        if probe.verdict is not Verdict.DISABLED:
            return dataclasses.replace(
                login,
                summary=f"wrong password for {address}",
                hint="type the password again, or set a new one: `postfach user passwd"
                f" {address} --password-stdin`; an app password works too",
            )
        return None
    if probe.verdict is Verdict.BAD_OR_DISABLED and worked:
        return dataclasses.replace(
            login,
            summary=f"{p} is switched off for this account (the same password logs in"
            f" over {' and '.join(worked)})",
            hint=disabled_hint(p, address, own=False),
        )
    return None
