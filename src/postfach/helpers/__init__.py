"""Helping people set up mail programs (issue 7; R8, R27, R29).

- `settings`: the IMAP/POP3/SMTP settings for any address: this server's own
  domains, built-in provider presets (`presets`), or the domain's autoconfig
  and SRV records (`discover`).
- `doctor`: `run_checks(address, password, ...)` tries each server the way a
  mail program does (`probe`, `dialogs`, `certs`, `clock`) and returns
  `CheckResult`s (`checks`) for the CLI, its JSON and the web page.
"""

from postfach.helpers.checks import CheckOptions, CheckResult, Status, Step, Target, parse_target
from postfach.helpers.doctor import exit_status, run_checks, targets_from_settings
from postfach.helpers.settings import MailSettings, lookup_settings

__all__ = [
    "CheckOptions",
    "CheckResult",
    "MailSettings",
    "Status",
    "Step",
    "Target",
    "exit_status",
    "lookup_settings",
    "parse_target",
    "run_checks",
    "targets_from_settings",
]
