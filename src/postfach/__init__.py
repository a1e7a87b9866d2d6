"""postfach: a complete self-hosted mail service.

Packages, each saying in its docstring what it owns, from the bottom up:
`message` (a message's bytes; imports nothing of ours), `store` (the only SQL;
knows no protocol), `auth`, `delivery`, `queue` (outbound; imports no SMTP),
`mailing`, the protocols side by side (`imap`, `pop3`, `smtp`, `web`; none
imports another), and `app`, which builds every service of a process once
and hands them to the listeners in a `context.ServerContext`. The contracts
are checked by `make lint` (import-linter, pyproject.toml).
"""

__version__ = "0.1.0"
