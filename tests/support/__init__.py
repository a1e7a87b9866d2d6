"""Helpers shared by tests in several folders; import them as `support.<module>`.

- `net`: `free_port`, `insecure_tls_context` (a client that accepts the test certificate);
- `imap`: `imap_append` over imaplib;
- `cli`: `run_cli`, `postfach ARGV` in a thread, its exit status and output;
- `smtpsink`: `Sink`, an aiosmtpd relay on loopback that records what it accepts.

Helpers of one folder stay in that folder (tests/<folder>/...).
"""
