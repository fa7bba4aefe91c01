"""Alembic environment of the library's own migrations (standalone use).

Run through :mod:`client_portal_core.migrate` (or ``python -m
client_portal_core migrate``), which hands over an open connection and the
table prefix. Also works with the ``alembic`` command and an ``alembic.ini``
whose ``script_location`` points here: the URL comes from ``-x
database_url=URL`` or ``sqlalchemy.url``, the prefix from ``-x
table_prefix=P`` or ``client_portal_table_prefix``.

Versions live in ``{prefix}alembic_version``, never in the host's table.
Autogenerate (for maintainers writing a new revision) compares only the
tables that carry the prefix, against the current models.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from client_portal_core.migrate import migration_table_prefix, version_table
from client_portal_core.storage import build_tables, create_engine_from_url

config = context.config
prefix = migration_table_prefix()
# Only for `alembic revision --autogenerate`; revisions never import the models.
target_metadata = build_tables(prefix).metadata


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Leave the host's tables (and anything else in the database) alone.
    if type_ == "table":
        return name is not None and name.startswith(prefix)
    return True


def _options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": version_table(prefix),
        "include_name": _include_name,
        "render_as_batch": True,  # SQLite needs batch mode to alter tables
        "compare_type": True,
    }


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("database_url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x database_url=URL or set sqlalchemy.url")
    return url


def run_offline() -> None:
    """Write the SQL script instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=_url(), literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run on the connection given by the caller, or on a new engine from the URL."""
    connection: sa.Connection | None = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options())
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine_from_url(_url())
    try:
        with engine.connect() as conn:
            context.configure(
                connection=conn.execution_options(client_portal_write=True), **_options()
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
