"""Bulk mailing (R22–R26): relays with hourly and daily limits, campaigns, bounces.

`relays` validates relay settings, `vault` keeps their passwords encrypted,
`compose` renders one message per contact under the sender rules of `sender`
(templates compiled once by `templates`), `transport` speaks SMTP to a relay
through the pipelining client of `smtpclient` and `smtpwire` (or hands mail to
this postfach),
`scheduler` spreads a campaign over the relays within their rolling windows,
`bounces` reads delivery reports and marks contacts, `service` runs it all
inside `postfach serve`, and `api` is the facade the CLI and the admin API share.
The tables and queries live in `postfach.store.mailing`.
"""

from __future__ import annotations

from postfach.mailing.unsubscribe import unsubscribe

__all__ = ["unsubscribe"]
