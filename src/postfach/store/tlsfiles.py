"""The TLS files role (`store.tls_files`): certificates and ACME challenge answers
that every node of a cluster needs, whichever node ordered them.

Owns the `tls_files` table: a name like `certs/mail.example.org.pem` (key and
chain, as in data_dir/tls; the database already holds the DKIM keys) or
`http-01/TOKEN`, its bytes and when it was written. The node that orders keeps
its files in the database too; the others copy newer certificates into their
own data_dir (acme/renewal.py) and answer HTTP-01 from here (web/wellknown.py).
"""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select, update

from postfach.store.base import Role
from postfach.store.schema import tls_files

__all__ = ["TlsFilesStore"]


class TlsFilesStore(Role):
    """See `TlsFilesApi` (store/api.py)."""

    async def put_tls_file(self, name: str, data: bytes) -> None:
        now = time.time()
        async with self.write() as tx:
            changed = await tx.execute(
                update(tls_files).where(tls_files.c.name == name).values(data=data, updated=now)
            )
            if not changed.rowcount:
                await tx.execute(insert(tls_files).values(name=name, data=data, updated=now))

    async def get_tls_file(self, name: str) -> bytes | None:
        async with self.read() as conn:
            row = (
                await conn.execute(select(tls_files.c.data).where(tls_files.c.name == name))
            ).first()
        return bytes(row.data) if row is not None else None

    async def delete_tls_file(self, name: str) -> None:
        async with self.write() as tx:
            await tx.execute(delete(tls_files).where(tls_files.c.name == name))

    async def tls_files_under(self, prefix: str) -> dict[str, bytes]:
        """Every file whose name starts with `prefix`, by name."""
        async with self.read() as conn:
            rows = await conn.execute(
                select(tls_files.c.name, tls_files.c.data).where(
                    tls_files.c.name.startswith(prefix, autoescape=True)
                )
            )
            return {row.name: bytes(row.data) for row in rows}
