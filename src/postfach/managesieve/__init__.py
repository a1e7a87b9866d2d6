"""ManageSieve (RFC 5804): the `managesieve` listener (4190) where mail programs
upload, check, list, activate and delete a user's Sieve scripts.

Three layers, as in pop3/: `parser` turns one command (its line and the
literals it carries) into a typed value from `commands`, without I/O;
`session` holds the state and applies commands to the store's `sieve` role;
`server` frames commands on the shared wire layer (net/) and runs STARTTLS.
`responses` builds every reply.
"""
