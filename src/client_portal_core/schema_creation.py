"""Creating the library's tables from nothing, stamped for the migrations."""

from __future__ import annotations

import sqlalchemy as sa

from . import migrate
from .storage import Database

__all__ = ["create_schema"]

#: PostgreSQL advisory lock held while creating the schema (any constant will do;
#: this one is "cpschema" in ASCII, read as an integer).
_SCHEMA_LOCK_KEY = 0x6370736368656D61


def create_schema(db: Database) -> None:
    """Create the tables that do not exist yet, safely from several processes at once.

    One transaction, serialized across processes (an advisory lock on
    PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): of two servers starting
    together on an empty database, one creates and the other finds the
    tables. A database created from nothing is stamped at the newest
    migration, so :func:`client_portal_core.migrate.upgrade` takes over
    from here on.
    """
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        ours = {table.name for table in db.tables.metadata.sorted_tables}
        existing = ours & set(sa.inspect(conn).get_table_names())
        db.tables.metadata.create_all(conn)
        if not existing:
            migrate.stamp(conn, table_prefix=db.tables.prefix)
