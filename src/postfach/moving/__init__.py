"""Moving mail in and out of postfach: import, export, backup and restore.

- imap_import.py: copies another IMAP server's folders, messages, flags and
  internal dates into an account (imap_source.py speaks to that server),
  resumable through the store's imports role (`store.imports`).
- files.py: Maildir++ and mbox, read (import) and written (export).
- target.py: where both land: the account's folders, written through the
  store's mail role as APPEND does, with the quota respected.
- folders.py: the other side's folder names and special uses mapped to ours.
- backup.py: a consistent copy of the whole store while the server runs, and
  its restore, verified and summed.

The CLI (cli/moving.py) shows progress with rich (progress.py).
"""
