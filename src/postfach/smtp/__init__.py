"""SMTP for the `smtp` (MX), `submission`, `submissions` and `devices` listeners.

Owns, from the wire inwards: `server` (`start_listener`, one connection's
handling), `wire` (buffered lines, DATA, BDAT, replies, STARTTLS), `parser` and
`commands` (a command line as a typed value), `data` (sans-IO DATA framing),
`service` (what a listener's sessions share: rules and limits read once,
caches), `session` (state machine and command table), `transaction` (the mail
transaction and what acceptance reads of its sender), `policy` (pure decisions
per listener role), `acceptance` (local delivery or the outbound queue, then
reports), `authres` (SPF and DKIM results of inbound mail), `maillog` (the log
lines), and `replies`/`errors` (every reply as a value).

Mail leaves through `postfach.queue`, which imports nothing from here: what
both need (RFC 3461 xtext, the From: addresses) lives in `postfach.message`.
"""
