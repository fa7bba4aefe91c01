"""The shipped Alembic migrations build exactly the models' schema, on every backend."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from client_portal_core import ClientPortal, Settings, hookimpl, migrate
from client_portal_core.storage import build_tables, create_engine_from_url
from conftest import require_server
from support import fresh_postgresql_database

CUSTOM_PREFIX = "acme_cp_"
PREFIXES = [
    pytest.param(migrate.DEFAULT_TABLE_PREFIX, id="default-prefix"),
    pytest.param(CUSTOM_PREFIX, id="custom-prefix"),
]


@pytest.fixture(scope="session")
def migration_postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database (``cp_mig_<random>``) for this session, dropped after."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgresql_database("cp_mig") as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    """An engine on an empty database of the row's backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        url = request.getfixturevalue("migration_postgresql_url")
    engine = create_engine_from_url(url)
    try:
        yield engine
    finally:
        # Leave the session's PostgreSQL database empty for the next test.
        leftovers = sa.MetaData()
        leftovers.reflect(engine)
        leftovers.drop_all(engine)
        engine.dispose()


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def schema_differences(engine: sa.Engine, prefix: str) -> list[Any]:
    """What Alembic's autogenerate would change to reach ``build_tables(prefix)``."""
    version_table = migrate.version_table(prefix)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                # Only this prefix's tables: the host's and other prefixes' are not ours.
                "include_name": lambda name, type_, _parents: (
                    type_ != "table" or (name.startswith(prefix) and name != version_table)
                ),
            },
        )
        return list(compare_metadata(context, build_tables(prefix).metadata))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_migrated_schema_equals_the_models(engine: sa.Engine, prefix: str) -> None:
    migrate.upgrade(engine, table_prefix=prefix)

    assert schema_differences(engine, prefix) == []
    assert {t.name for t in build_tables(prefix).metadata.sorted_tables} <= table_names(engine)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_versions_live_in_the_prefixed_version_table(engine: sa.Engine, prefix: str) -> None:
    migrate.upgrade(engine, table_prefix=prefix)

    assert f"{prefix}alembic_version" in table_names(engine)
    assert "alembic_version" not in table_names(engine)
    assert migrate.current(engine, table_prefix=prefix) == migrate.head()


def test_upgrade_is_idempotent(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    before = table_names(engine)

    migrate.upgrade(engine)

    assert table_names(engine) == before
    assert migrate.current(engine) == migrate.head()
    assert schema_differences(engine, migrate.DEFAULT_TABLE_PREFIX) == []


def test_current_is_none_before_the_first_migration(engine: sa.Engine) -> None:
    assert migrate.current(engine) is None


@pytest.mark.parametrize("prefix", PREFIXES)
def test_downgrade_to_base_removes_every_table(engine: sa.Engine, prefix: str) -> None:
    migrate.upgrade(engine, table_prefix=prefix)

    migrate.downgrade(engine, table_prefix=prefix, revision="base")

    # Only Alembic's (now empty) bookkeeping table is left.
    assert table_names(engine) == {f"{prefix}alembic_version"}
    assert migrate.current(engine, table_prefix=prefix) is None


def test_host_tables_and_host_alembic_version_are_left_alone(engine: sa.Engine) -> None:
    host = sa.MetaData()
    contacts = sa.Table("contacts", host, sa.Column("id", sa.Integer, primary_key=True))
    host_versions = sa.Table(
        "alembic_version", host, sa.Column("version_num", sa.String(32), primary_key=True)
    )
    host.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(host_versions).values(version_num="host0042"))
        conn.execute(sa.insert(contacts).values(id=7))

    migrate.upgrade(engine)
    migrate.downgrade(engine, revision="base")

    with engine.connect() as conn:
        assert conn.execute(sa.select(host_versions.c.version_num)).scalars().all() == ["host0042"]
        assert conn.execute(sa.select(contacts.c.id)).scalars().all() == [7]


def test_two_prefixes_share_one_database(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine, table_prefix=CUSTOM_PREFIX)

    migrate.downgrade(engine, table_prefix=CUSTOM_PREFIX, revision="base")

    assert migrate.current(engine) == migrate.head()
    assert schema_differences(engine, migrate.DEFAULT_TABLE_PREFIX) == []
    assert not any(name.startswith(CUSTOM_PREFIX + "c") for name in table_names(engine))


def test_include_object_hides_the_library_tables_from_host_autogenerate(
    engine: sa.Engine,
) -> None:
    host = sa.MetaData()
    sa.Table("contacts", host, sa.Column("id", sa.Integer, primary_key=True))
    host.create_all(engine)
    migrate.upgrade(engine)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": migrate.include_object(migrate.DEFAULT_TABLE_PREFIX)}
        )
        assert compare_metadata(context, host) == []
        unfiltered = MigrationContext.configure(conn)
        assert compare_metadata(unfiltered, host) != []  # the filter is what hides them


def test_an_invalid_prefix_is_refused() -> None:
    with pytest.raises(migrate.ConfigurationError, match="table prefix"):
        migrate.version_table("Robert'); DROP TABLE students;--")


def test_script_location_holds_the_alembic_environment() -> None:
    from pathlib import Path

    folder = Path(migrate.script_location())
    assert (folder / "env.py").is_file()
    assert (folder / "script.py.mako").is_file()
    assert any((folder / "versions").glob("*.py"))


def test_cli_migrate_upgrades_to_head(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from client_portal_core.__main__ import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"

    assert main(["migrate", "--database-url", url, "--table-prefix", CUSTOM_PREFIX]) == 0

    assert json.loads(capsys.readouterr().out) == {
        "from": None,
        "to": migrate.head(),
        "table_prefix": CUSTOM_PREFIX,
    }
    assert migrate.current(url, table_prefix=CUSTOM_PREFIX) == migrate.head()


HOST_ENV = """
from alembic import context
import sqlalchemy as sa
from client_portal_core.migrate import include_object

host = sa.MetaData()
sa.Table("contacts", host, sa.Column("id", sa.Integer, primary_key=True))
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=host, include_object=include_object())
with context.begin_transaction():
    context.run_migrations()
"""

HOST_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "host0001"
down_revision = None
branch_labels = ("host",)
depends_on = None


def upgrade():
    op.create_table("contacts", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("contacts")
"""


def test_host_alembic_setup_runs_the_library_branch(tmp_path: Any) -> None:
    """The documented way 2: the library's versions in the host's version_locations."""
    from alembic import command
    from alembic.config import Config

    (tmp_path / "host" / "versions").mkdir(parents=True)
    (tmp_path / "host" / "env.py").write_text(HOST_ENV)
    (tmp_path / "host" / "versions" / "host0001_contacts.py").write_text(HOST_REVISION)
    config = Config()
    config.set_main_option("script_location", str(tmp_path / "host"))
    config.set_main_option("path_separator", "space")
    config.set_main_option(
        "version_locations",
        f"{tmp_path / 'host' / 'versions'} {migrate.script_location()}/versions",
    )
    config.set_main_option(migrate.PREFIX_OPTION, CUSTOM_PREFIX)
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'host.db'}")
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
            assert set(versions) == {"host0001", migrate.head()}
        assert "contacts" in table_names(engine)
        assert schema_differences(engine, CUSTOM_PREFIX) == []
    finally:
        engine.dispose()


# -- create_schema and migrations together ------------------------------------------


class _NoDirectory:
    @hookimpl
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> None:
        return None


def _portal_on(engine: sa.Engine) -> ClientPortal:
    settings = Settings.build(
        secret_key="migrations-secret-key-0123456789", load_entry_points=False
    )
    return ClientPortal(settings, engine=engine, plugins=[_NoDirectory()])


def test_create_schema_stamps_a_new_database_so_upgrade_takes_over(engine: sa.Engine) -> None:
    _portal_on(engine).create_schema()

    assert migrate.current(engine) == migrate.head()
    migrate.upgrade(engine)  # nothing to do, and no "table already exists"
    assert schema_differences(engine, migrate.DEFAULT_TABLE_PREFIX) == []


def test_create_schema_does_not_stamp_tables_it_did_not_create(engine: sa.Engine) -> None:
    build_tables(migrate.DEFAULT_TABLE_PREFIX).metadata.create_all(engine)

    _portal_on(engine).create_schema()

    assert migrate.current(engine) is None


def test_servers_starting_together_on_an_empty_database_all_start(engine: sa.Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start_one() -> None:
        own = create_engine_from_url(url)
        try:
            portal = _portal_on(own)
            barrier.wait(timeout=30)
            portal.create_schema()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=start_one) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert migrate.current(engine) == migrate.head()
    assert schema_differences(engine, migrate.DEFAULT_TABLE_PREFIX) == []


def _locked_new_database(path: Any) -> Any:
    """A new SQLite file (rollback journal) with another connection holding its write lock."""
    import sqlite3

    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("CREATE TABLE host_things (id INTEGER PRIMARY KEY)")
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_a_new_sqlite_file_switches_to_wal_once_another_process_lets_go(tmp_path: Any) -> None:
    # SQLite refuses the switch to WAL at once, without its busy timeout,
    # while anyone holds a lock. The engine retries until its timeout; here
    # the other connection lets go right after the first refusal.
    import sqlite3

    blocker = _locked_new_database(tmp_path / "new.db")
    refusals: list[str] = []

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
            try:
                return super().execute(sql, *args)
            except sqlite3.OperationalError as exc:
                refusals.append(str(exc))
                blocker.rollback()
                raise

    class Connection(sqlite3.Connection):
        def cursor(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().cursor(Cursor)

    engine = create_engine_from_url(
        f"sqlite:///{tmp_path / 'new.db'}", connect_args={"factory": Connection}
    )
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
    finally:
        engine.dispose()
        blocker.close()

    assert refusals
    assert "locked" in refusals[0]
    assert mode == "wal"


def test_a_new_sqlite_file_locked_past_the_timeout_fails_loudly(tmp_path: Any) -> None:
    blocker = _locked_new_database(tmp_path / "new.db")
    engine = create_engine_from_url(
        f"sqlite:///{tmp_path / 'new.db'}", connect_args={"timeout": 0.05}
    )
    try:
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            engine.connect()
    finally:
        engine.dispose()
        blocker.close()


def test_cp0007_lets_invitations_name_tokens_of_another_store(engine: sa.Engine) -> None:
    """Before cp0007 an invitation had to point at a row of the SQL tokens table;
    after it, at any store's token id, and the invitations already there survive."""
    from datetime import UTC, datetime

    now = datetime(2030, 1, 1, tzinfo=UTC)
    tables = build_tables(migrate.DEFAULT_TABLE_PREFIX)
    migrate.upgrade(engine, revision="cp0002")
    row = {
        "tenant_id": "t",
        "subject_type": "contact",
        "subject_id": "1",
        "email": "a@example.com",
        "custom_message": None,
        "status": "sent",
        "error": None,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
    }
    with engine.begin() as conn:
        token_id = conn.execute(
            sa.insert(tables.portal_tokens).returning(tables.portal_tokens.c.id),
            {
                "tenant_id": "t",
                "subject_type": "contact",
                "subject_id": "1",
                "lookup_hash": "h" * 64,
                "sealed": "s",
                "current": True,
                "created_at": now,
                "expires_at": now,
                "access_count": 0,
            },
        ).scalar_one()
        conn.execute(sa.insert(tables.invitations), {**row, "portal_token_id": token_id})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(tables.invitations), {**row, "portal_token_id": 987654})

    migrate.upgrade(engine)

    with engine.begin() as conn:
        conn.execute(sa.insert(tables.invitations), {**row, "portal_token_id": 987654})
        kept = conn.execute(sa.select(tables.invitations.c.portal_token_id)).scalars().all()
    assert sorted(kept) == [token_id, 987654]
