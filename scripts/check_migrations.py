"""Check that the shipped migrations build exactly the schema of ``storage.build_tables``.

Usage (from the repository root)::

    .venv/bin/python scripts/check_migrations.py            # exit 1 and list the drift
    .venv/bin/python scripts/check_migrations.py --render   # also print the missing ops
    .venv/bin/python scripts/check_migrations.py --render --from-empty   # a whole baseline

It upgrades a temporary SQLite database to ``head`` and asks Alembic's
autogenerate for the differences with the models. ``tests/test_migrations.py``
does the same on SQLite and PostgreSQL, so CI catches a model change that
has no revision. When this reports drift, write a new revision in
``src/client_portal_core/migrations/versions/``: ``--render`` prints its
``upgrade`` operations with every name already written as ``f"{prefix}..."``;
tidy them by hand and add the ``downgrade``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext

from client_portal_core import migrate
from client_portal_core.storage import build_tables, create_engine_from_url

# Rendered with this stand-in prefix, then every literal holding it becomes an f-string.
_SENTINEL = "zzprefixzz_"
_LITERAL = re.compile(r"'([^'\n]*" + _SENTINEL + r"[^'\n]*)'")


def render_ops(from_empty: bool) -> str:
    """The autogenerate operations from the migrated (or empty) schema to the models."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine_from_url(f"sqlite:///{Path(folder) / 'render.db'}")
        try:
            if not from_empty:
                migrate.upgrade(engine, table_prefix=_SENTINEL)
            with engine.connect() as conn:
                context = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "include_name": lambda name, type_, _parents: (
                            (type_ != "table" or str(name).startswith(_SENTINEL))
                            and name != migrate.version_table(_SENTINEL)
                        ),
                    },
                )
                script = produce_migrations(context, build_tables(_SENTINEL).metadata)
        finally:
            engine.dispose()
    code = render_python_code(script.upgrade_ops, alembic_module_prefix="op.")
    # Revisions are frozen: plain types, never the library's own classes.
    code = code.replace("client_portal_core.storage.UTCDateTime()", "sa.DateTime()")
    code = _LITERAL.sub(lambda m: 'f"' + m.group(1).replace(_SENTINEL, "{prefix}") + '"', code)
    return code


def drift(table_prefix: str) -> list[object]:
    """Alembic's differences between the migrated schema and the models (empty: none)."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine_from_url(f"sqlite:///{Path(folder) / 'check.db'}")
        try:
            migrate.upgrade(engine, table_prefix=table_prefix)
            with engine.connect() as conn:
                context = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "include_name": lambda name, type_, _parents: (
                            name != migrate.version_table(table_prefix)
                        ),
                    },
                )
                return list(compare_metadata(context, build_tables(table_prefix).metadata))
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Print the drift (and with ``--render`` the ops to fix it); 1 when there is drift."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table-prefix", default=migrate.DEFAULT_TABLE_PREFIX)
    parser.add_argument("--render", action="store_true", help="print the ops of a new revision")
    parser.add_argument(
        "--from-empty", action="store_true", help="with --render: ops from an empty database"
    )
    args = parser.parse_args(argv)
    if args.render:
        print(render_ops(args.from_empty))
    differences = drift(args.table_prefix)
    for difference in differences:
        print(str(difference)[:300])
    print("migrations match the models" if not differences else "DRIFT: write a new revision")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
