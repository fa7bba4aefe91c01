"""The host's own database: tenants, contacts, companies, their invoices, proposals
and tasks, and host settings.

These tables belong to the host, not to the library: the library never reads
them and only learns about contacts and companies through the directory
plugin (:mod:`examples.host_common.directory`).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from client_portal_core.storage import create_engine_from_url

__all__ = [
    "SECRET_KEY_SETTING",
    "companies",
    "contacts",
    "create_host_schema",
    "host_metadata",
    "host_settings",
    "invoices",
    "open_engine",
    "proposals",
    "stored_secret_key",
    "tasks",
    "tenants",
]

host_metadata = sa.MetaData()

# sqlite_autoincrement: SQLite then never reuses the id of a deleted row, as
# PostgreSQL's sequences don't, so an old portal token can never point at a
# newer contact that inherited its id.
tenants = sa.Table(
    "host_tenants",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sqlite_autoincrement=True,
)

contacts = sa.Table(
    "host_contacts",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("host_tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Index("ix_host_contacts_tenant_id", "tenant_id", "id"),
    sqlite_autoincrement=True,
)

companies = sa.Table(
    "host_companies",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("host_tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Index("ix_host_companies_tenant_id", "tenant_id", "id"),
    sqlite_autoincrement=True,
)

# What the host shows its clients in the portal. Each row belongs to one
# contact or company of one tenant (subject_type "contact" or "company").


def _owned_by_subject(name: str, *columns: sa.Column[object]) -> sa.Table:
    return sa.Table(
        name,
        host_metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("host_tenants.id"), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        *columns,
        sa.Index(f"ix_{name}_subject", "tenant_id", "subject_type", "subject_id"),
        sqlite_autoincrement=True,
    )


invoices = _owned_by_subject(
    "host_invoices",
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
)

proposals = _owned_by_subject(
    "host_proposals",
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("sent_on", sa.Date, nullable=False),
)

tasks = _owned_by_subject(
    "host_tasks",
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("due_date", sa.Date, nullable=True),
)

#: Host-wide key/value settings; holds the generated portal secret key.
host_settings = sa.Table(
    "host_settings",
    host_metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Name of the :data:`host_settings` row holding the generated secret key.
SECRET_KEY_SETTING = "client_portal_secret_key"


def open_engine(database_url: str) -> Engine:
    """An engine for the host and the library to share (one pool, one SQLite setup)."""
    return create_engine_from_url(database_url)


#: PostgreSQL advisory lock key serializing the host's schema creation.
_HOST_SCHEMA_LOCK = 0x686F7374  # "host"


def create_host_schema(engine: Engine) -> None:
    """Create the host's tables that do not exist yet.

    Two ``serve`` processes starting together on an empty PostgreSQL database
    would both try to create them: the advisory lock lets one do it while the
    other waits and then finds them (SQLite serializes writers by itself).
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_HOST_SCHEMA_LOCK)))
        host_metadata.create_all(conn)


def stored_secret_key(engine: Engine) -> str:
    """The secret key kept in the database, generated on first use.

    Every process on one database gets the same key, so portal tokens signed
    by one ``serve`` process verify in another and survive restarts.
    """
    candidate = secrets.token_urlsafe(48)
    try:
        # Insert first and read after: two processes starting together both
        # try, one wins, and both read the winner's key.
        with engine.begin() as conn:
            conn.execute(host_settings.insert().values(name=SECRET_KEY_SETTING, value=candidate))
    except IntegrityError:
        pass
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(host_settings.c.value).where(host_settings.c.name == SECRET_KEY_SETTING)
        ).scalar_one()
    return str(value)
