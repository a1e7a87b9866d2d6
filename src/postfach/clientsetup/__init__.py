"""Client setup: what settings does a mail program need, and are mine right?
(issue 7; R8, R27, R29)

The first half answers with settings tables:

- `own`: this server's own IMAP/POP3/SMTP settings (config ports, public name),
  used by `serve` at start, the web pages and autoconfig;
- `settings`: `postfach settings ADDR`, the settings for any address: this
  server's domains (`own`), built-in provider presets (`presets`), or the
  domain's autoconfig and SRV records (`discover`).

The second half is the doctor: `run_checks(address, password, ...)` tries each
server the way a mail program does (`probe` over `conn`, speaking `dialogs`,
judging `certs` and the server's `clock`) and returns `CheckResult`s (`checks`)
in the guide's plain words (`login_words`) for the CLI, its JSON and the web page.
"""

from postfach.clientsetup.checks import (
    CheckOptions,
    CheckResult,
    Status,
    Step,
    Target,
    parse_target,
)
from postfach.clientsetup.doctor import exit_status, run_checks, targets_from_settings
from postfach.clientsetup.settings import MailSettings, lookup_settings

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
