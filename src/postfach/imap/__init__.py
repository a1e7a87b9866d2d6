"""IMAP4rev1 and IMAP4rev2 (RFC 3501, RFC 9051) for the `imap` and `imaps` listeners.

Owns, from the wire inwards: `server` (the listener, the connection's bounded
reads and STARTTLS, `start_listener`), the grammar (`lexer`, `parser`,
`grammar`, `fetchparse`, `searchparse`, `patterns`) that turns a command into a
typed value (`commands`), the session (`state`: states, capabilities and the
limits read once per listener; `session`: one connection's state, changed only
through its methods), the command table and its handlers (`handlers/`), the
selected mailbox as the client knows it (`selected`), the answers (`responses`,
`structure`, `errors`), and two services App builds once per process and the
context carries: \\Recent marks (`recent`) and SELECT's index cache (`indexcache`).

Mail is reached only through the store (`ctx.store`); no other protocol package
is imported (import-linter contract in pyproject.toml).
"""
