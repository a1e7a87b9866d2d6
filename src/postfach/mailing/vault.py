"""Relay and mailbox passwords, encrypted at rest (R22).

The key is a Fernet key (AES-128-CBC with HMAC-SHA256) in `mailing.key` in the
data dir, made with mode 0600 on first use. Nodes that share a PostgreSQL
database must share this file too. Plaintext passwords exist only in memory,
just before a login; they are never printed or logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["KEY_FILE", "Vault", "VaultError"]

KEY_FILE = "mailing.key"


class VaultError(ValueError):
    """The key is missing, unreadable, or not the one the secret was sealed with."""


class Vault:
    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._fernet: Fernet | None = None

    @classmethod
    def for_data_dir(cls, data_dir: str | Path) -> Vault:
        return cls(Path(data_dir) / KEY_FILE)

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not self.key_path.exists():
                self._create()
            try:
                self._fernet = Fernet(self.key_path.read_bytes().strip())
            except (OSError, ValueError) as exc:
                raise VaultError(f"{self.key_path}: not a usable key ({exc})") from None
        return self._fernet

    def _create(self) -> None:
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process made it first
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key() + b"\n")

    def encrypt(self, secret: str) -> str:
        if not secret:
            return ""
        return self._key().encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self._key().decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise VaultError(
                f"a stored password cannot be decrypted with {self.key_path}: "
                "was the key file replaced? Set the password again."
            ) from None
