"""Database migrations of the library's tables, with Alembic.

The library ships its Alembic scripts inside the package
(``client_portal_core/migrations``). Every table, index and constraint name
starts with the table prefix (``client_portal_`` by default, the same
setting as :attr:`Settings.table_prefix <client_portal_core.Settings.table_prefix>`),
so the library's schema never collides with the host's.

There are two ways to run them (``docs/migrations.md`` has the details).

**Standalone**, with the library's own version table ``{prefix}alembic_version``
(never the host's ``alembic_version``)::

    python -m client_portal_core migrate --database-url URL [--table-prefix P]

or from Python, e.g. at deploy time::

    from client_portal_core import migrate
    migrate.upgrade("postgresql+psycopg://app@db/app")          # to the newest revision
    migrate.current("postgresql+psycopg://app@db/app")          # -> "cp0002" or None

**Inside a host's own Alembic setup**: add :func:`script_location` +
``/versions`` to the host's ``version_locations`` (the library's revisions are
a separate branch labelled :data:`BRANCH_LABEL`; run ``alembic upgrade
heads``), and give the host's ``env.py`` an ``include_object`` built by
:func:`include_object` so the host's autogenerate never proposes to drop or
change the library's tables.

The prefix a migration uses is found by :func:`migration_table_prefix`: the
``client_portal_table_prefix`` attribute of the Alembic config (set by the
functions here), then ``-x table_prefix=P`` (or ``-x
client_portal_table_prefix=P``) on the ``alembic`` command line, then the
``client_portal_table_prefix`` option of ``alembic.ini``, then the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from .errors import ConfigurationError
from .storage import create_engine_from_url

__all__ = [
    "BRANCH_LABEL",
    "DEFAULT_TABLE_PREFIX",
    "PREFIX_OPTION",
    "alembic_config",
    "current",
    "downgrade",
    "head",
    "include_object",
    "migration_table_prefix",
    "script_location",
    "stamp",
    "upgrade",
    "version_table",
]

#: The prefix used when none is configured (same default as ``Settings.table_prefix``).
DEFAULT_TABLE_PREFIX = "client_portal_"
#: Branch label of the library's revisions in a host's Alembic history.
BRANCH_LABEL = "client_portal"
#: Name of the Alembic config attribute / ``alembic.ini`` option holding the prefix.
PREFIX_OPTION = "client_portal_table_prefix"

_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def _checked(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"table prefix must match {_PREFIX.pattern} (lower case, at most 31 characters): "
            f"{prefix!r}"
        )
    return prefix


def script_location() -> str:
    """The folder of the library's Alembic scripts (``env.py``, ``versions/``).

    A host that already uses Alembic adds ``script_location() + "/versions"``
    to its ``version_locations``.
    """
    return str(Path(__file__).resolve().parent / "migrations")


def version_table(table_prefix: str = DEFAULT_TABLE_PREFIX) -> str:
    """The library's own Alembic version table: ``{prefix}alembic_version``."""
    return f"{_checked(table_prefix)}alembic_version"


def alembic_config(
    connection: Connection | None = None, *, table_prefix: str = DEFAULT_TABLE_PREFIX
) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the library's scripts.

    Use it with any :mod:`alembic.command` (``history``, ``stamp``...).
    ``connection``, when given, is the one the migrations run on.
    """
    config = Config()
    config.set_main_option("script_location", script_location())
    config.attributes[PREFIX_OPTION] = _checked(table_prefix)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _connected(engine_or_url: Engine | str) -> Iterator[Connection]:
    engine = (
        create_engine_from_url(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    )
    try:
        # client_portal_write: on SQLite (create_engine_from_url) the whole
        # migration holds the write lock from its first statement.
        with engine.connect() as conn:
            conn = conn.execution_options(client_portal_write=True)
            with conn.begin():
                yield conn
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def upgrade(
    engine_or_url: Engine | str,
    *,
    table_prefix: str = DEFAULT_TABLE_PREFIX,
    revision: str = "head",
) -> None:
    """Migrate the library's tables up to ``revision`` (the newest by default).

    Safe to run on every deploy: an up-to-date database is left untouched.
    Runs in one transaction where the database supports transactional DDL
    (PostgreSQL, SQLite).

    :param engine_or_url: the host's engine, or a SQLAlchemy URL.
    :param table_prefix: the prefix of every library table.
    :param revision: an Alembic revision id, ``"head"`` or a relative one.
    """
    with _connected(engine_or_url) as conn:
        command.upgrade(alembic_config(conn, table_prefix=table_prefix), revision)


def stamp(
    target: Engine | Connection | str,
    *,
    table_prefix: str = DEFAULT_TABLE_PREFIX,
    revision: str = "head",
) -> None:
    """Record ``revision`` as applied without running anything.

    :meth:`ClientPortal.create_schema` does this for a database it creates
    from nothing, so that :func:`upgrade` carries it on.

    :param target: an engine, a SQLAlchemy URL, or a connection whose open
        transaction the stamp joins.
    :param table_prefix: the prefix of every library table.
    :param revision: an Alembic revision id or ``"head"``.
    """
    if isinstance(target, Connection):
        command.stamp(alembic_config(target, table_prefix=table_prefix), revision)
        return
    with _connected(target) as conn:
        command.stamp(alembic_config(conn, table_prefix=table_prefix), revision)


def downgrade(
    engine_or_url: Engine | str,
    *,
    table_prefix: str = DEFAULT_TABLE_PREFIX,
    revision: str = "base",
) -> None:
    """Migrate the library's tables down to ``revision``; ``"base"`` drops them all.

    :param engine_or_url: the host's engine, or a SQLAlchemy URL.
    :param table_prefix: the prefix of every library table.
    :param revision: an Alembic revision id, ``"base"`` or a relative one.
    """
    with _connected(engine_or_url) as conn:
        command.downgrade(alembic_config(conn, table_prefix=table_prefix), revision)


def current(engine_or_url: Engine | str, *, table_prefix: str = DEFAULT_TABLE_PREFIX) -> str | None:
    """The revision the database is at, or ``None`` before the first migration."""
    with _connected(engine_or_url) as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": version_table(table_prefix)}
        )
        return context.get_current_revision()


def head() -> str:
    """The newest revision shipped with this version of the library."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    if len(heads) != 1:  # pragma: no cover - a packaging mistake
        raise RuntimeError(f"the library's migrations have {len(heads)} heads: {heads}")
    return heads[0]


def migration_table_prefix() -> str:
    """The table prefix of the migration being run; for ``env.py`` and revisions.

    Only meaningful while Alembic runs a migration (``alembic.context`` is
    set up). Looks at, in order: the config attribute :data:`PREFIX_OPTION`,
    ``-x table_prefix=P`` or ``-x client_portal_table_prefix=P``, the
    ``client_portal_table_prefix`` option of ``alembic.ini``, the default.
    """
    from alembic import context

    config = context.config
    x_args = context.get_x_argument(as_dictionary=True)
    prefix = (
        config.attributes.get(PREFIX_OPTION)
        or x_args.get("table_prefix")
        or x_args.get(PREFIX_OPTION)
        or config.get_main_option(PREFIX_OPTION)
        or DEFAULT_TABLE_PREFIX
    )
    return _checked(str(prefix))


def include_object(
    table_prefix: str = DEFAULT_TABLE_PREFIX,
    then: Callable[[Any, str | None, str, bool, Any], bool] | None = None,
) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An ``include_object`` hook for a host's ``env.py`` that hides the library's tables.

    The host's autogenerate then never proposes to drop or alter a table
    whose name starts with ``table_prefix`` (nor its indexes and
    constraints, nor the library's version table)::

        from client_portal_core.migrate import include_object
        context.configure(..., include_object=include_object("client_portal_"))

    :param table_prefix: the prefix of the library's tables.
    :param then: the host's own ``include_object``, consulted for every other object.
    """
    prefix = _checked(table_prefix)

    def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = name if type_ == "table" else getattr(table, "name", None)
        if table_name is not None and str(table_name).startswith(prefix):
            return False
        return True if then is None else then(obj, name, type_, reflected, compare_to)

    return _include
