"""Steps that bring an older database to the current schema, beyond the tables and
indexes `_create_missing` (store/base.py) adds.

Each step is idempotent: it looks at what the database has, not only at the
version number, so a step interrupted half-way (or run by two nodes that start
at once on SQLite) is simply done again.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateColumn

from postfach.store.schema import mailboxes, metadata

__all__ = ["add_missing_columns", "fill_mailbox_objectids", "new_objectid"]


def new_objectid() -> str:
    """An RFC 8474 objectid for a folder: random, so never one a deleted folder had."""
    return "F" + secrets.token_hex(12)


def add_missing_columns(conn: Any) -> None:
    """ALTER TABLE … ADD COLUMN for each column a table gained since it was made.
    Such a column must be nullable or have a server default, so rows made before
    it get a value (a later step may fill it); both backends add it without
    rewriting the table."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or "migrated_by" in column.info:
                continue  # there, or added (and filled in) by a step of its own
            if not column.nullable and column.server_default is None:
                raise RuntimeError(f"{table.name}.{column.name}: a new column needs a default")
            spec = CreateColumn(column).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {spec}")


async def fill_mailbox_objectids(conn: AsyncConnection) -> None:
    """RFC 8474 MAILBOXID for folders made before the column existed."""
    rows = (await conn.execute(select(mailboxes.c.id).where(mailboxes.c.objectid.is_(None)))).all()
    for row in rows:
        await conn.execute(
            update(mailboxes).where(mailboxes.c.id == row.id).values(objectid=new_objectid())
        )
