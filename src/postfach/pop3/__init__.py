"""POP3 (RFC 1939) with CAPA, STLS and SASL: parser → session → store.

`parser` turns a line into a command value, `session` applies it (state
machine, command table, maildrop), `server` does the I/O and provides
`start_listener` for the `pop3` and `pop3s` listeners.
"""
