"""Storage: the ports the services use, and their SQLAlchemy 2.0 implementation.

The schema is SQLAlchemy Core, built per table prefix by :func:`build_tables`
so that the library's tables never collide with the host's. Nothing here is
SQLite-only: uniqueness of a subject's current token is a plain unique
constraint (``current`` is TRUE for the current token and NULL for retired
ones, and NULLs never collide), which SQLite and PostgreSQL enforce alike.

Times are stored as naive UTC and handed out as aware UTC
(:class:`UTCDateTime`), so every backend round-trips them the same way.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler

from .events import DomainEvent
from .tokens import NewPortalToken

__all__ = [
    "InvitationRecord",
    "SqlStore",
    "StoredApiToken",
    "StoredPortalToken",
    "Tables",
    "TokenStore",
    "UTCDateTime",
    "build_tables",
    "create_engine_from_url",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the client portal storage")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Columns of a portal token row, in :class:`StoredPortalToken` order.
_TOKEN_FIELDS = (
    "id",
    "tenant_id",
    "subject_type",
    "subject_id",
    "sealed",
    "created_at",
    "expires_at",
    "revoked_at",
    "current",
    "last_accessed_at",
    "access_count",
)


def _as_utc(value: datetime | str) -> datetime:
    # Raw DBAPI rows: SQLite hands back text, PostgreSQL drivers datetimes.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_utc_or_none(value: datetime | str | None) -> datetime | None:
    return None if value is None else _as_utc(value)


def _token_from_row(row: Sequence[Any]) -> StoredPortalToken:
    """A row of :data:`_TOKEN_FIELDS` (DBAPI or SQLAlchemy) as a :class:`StoredPortalToken`."""
    values = dict(zip(_TOKEN_FIELDS, row, strict=True))
    for name in ("created_at", "expires_at"):
        values[name] = _as_utc(values[name])
    for name in ("revoked_at", "last_accessed_at"):
        values[name] = _as_utc_or_none(values[name])
    values["current"] = bool(values["current"])
    return StoredPortalToken(**values)


def _token_or_none(row: Sequence[Any] | None) -> StoredPortalToken | None:
    return None if row is None else _token_from_row(row)


@dataclass(frozen=True)
class Tables:
    """The library's tables for one prefix, on their own ``MetaData``."""

    prefix: str
    metadata: sa.MetaData
    configs: sa.Table
    api_tokens: sa.Table
    portal_tokens: sa.Table
    invitations: sa.Table
    webhook_endpoints: sa.Table
    webhook_messages: sa.Table
    webhook_deliveries: sa.Table
    webhook_attempts: sa.Table
    bulk_jobs: sa.Table
    bulk_job_items: sa.Table


#: PostgreSQL advisory lock held while creating the schema (any constant will do;
#: this one is "cpschema" in ASCII, read as an integer).
_SCHEMA_LOCK_KEY = 0x6370736368656D61

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


def build_tables(prefix: str = "client_portal_") -> Tables:
    """Build the schema with every table name starting with ``prefix``."""
    md = sa.MetaData(naming_convention=_NAMING)
    tenant = sa.String(64)
    configs = sa.Table(
        f"{prefix}configs",
        md,
        sa.Column("tenant_id", tenant, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    api_tokens = sa.Table(
        f"{prefix}api_tokens",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )
    portal_tokens = sa.Table(
        f"{prefix}portal_tokens",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("lookup_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sealed", sa.Text, nullable=False),
        # TRUE for the subject's current token, NULL once replaced: the unique
        # constraint below then allows one current token per subject.
        sa.Column("current", sa.Boolean, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("last_accessed_at", UTCDateTime, nullable=True),
        sa.Column("access_count", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("tenant_id", "subject_type", "subject_id", "current"),
    )
    invitations = sa.Table(
        f"{prefix}invitations",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column(
            "portal_token_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}portal_tokens.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("custom_message", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Index(None, "tenant_id", "status"),
    )
    webhook_endpoints = sa.Table(
        f"{prefix}webhook_endpoints",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("sealed_secret", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    webhook_messages = sa.Table(
        f"{prefix}webhook_messages",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("msg_id", sa.String(40), nullable=False, unique=True),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    webhook_deliveries = sa.Table(
        f"{prefix}webhook_deliveries",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "endpoint_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", tenant, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("locked_until", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Index(None, "status", "next_attempt_at"),
    )
    webhook_attempts = sa.Table(
        f"{prefix}webhook_attempts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response_snippet", sa.Text, nullable=True),
    )
    # Bulk invitation runs (see client_portal_core.bulk): one row per run and
    # one per subject, so an interrupted run resumes without sending twice.
    bulk_jobs = sa.Table(
        f"{prefix}bulk_jobs",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", tenant, nullable=False, index=True),
        sa.Column("custom_message", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        # The run that holds the job (random, per run): see client_portal_core.bulk.
        sa.Column("run_id", sa.String(32), nullable=True),
    )
    bulk_job_items = sa.Table(
        f"{prefix}bulk_job_items",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}bulk_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "invitation_id",
            sa.Integer,
            sa.ForeignKey(f"{prefix}invitations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        # The run that claimed the item: its later writes are conditional on it.
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("job_id", "subject_type", "subject_id"),
        sa.Index(None, "job_id", "status"),
    )
    return Tables(
        prefix=prefix,
        metadata=md,
        configs=configs,
        api_tokens=api_tokens,
        portal_tokens=portal_tokens,
        invitations=invitations,
        webhook_endpoints=webhook_endpoints,
        webhook_messages=webhook_messages,
        webhook_deliveries=webhook_deliveries,
        webhook_attempts=webhook_attempts,
        bulk_jobs=bulk_jobs,
        bulk_job_items=bulk_job_items,
    )


def create_engine_from_url(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the library: SQLite in WAL mode with write locks up front.

    On SQLite, write transactions start with ``BEGIN IMMEDIATE`` (they take
    the write lock before reading), so two concurrent get-or-creates queue
    instead of failing with "database is locked" half-way through.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(parsed, **kwargs)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", 30)
    busy_timeout = float(connect_args["timeout"])
    connect_args.setdefault("check_same_thread", False)
    engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    in_memory = parsed.database in (None, "", ":memory:")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, below, emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            _use_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Reads are single statements and run in SQLite's implicit
        # per-statement transaction; an explicit BEGIN would only cost time.
        # BEGIN goes straight to the driver: it needs none of SQLAlchemy's
        # statement machinery, which would cost more than the statement.
        options = conn.get_execution_options()
        if options.get("client_portal_write", False):
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        elif not options.get("client_portal_read", False):
            conn.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]

    return engine


def _use_wal(cursor: sqlite3.Cursor, timeout: float) -> None:
    """Put the database file in WAL mode, waiting up to ``timeout`` for other connections.

    The mode is stored in the file: on a file already in WAL mode the pragma
    is a no-op that takes no lock. Switching a new file needs the file to
    itself, and SQLite answers "database is locked" at once, without its
    busy timeout, while another process holds any lock: several servers
    starting together on a new file would otherwise fail. So it is retried
    until the deadline.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


@dataclass(frozen=True, slots=True)
class StoredPortalToken:
    """A portal token row: everything but a usable token."""

    id: int
    tenant_id: str
    subject_type: str
    subject_id: str
    sealed: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    current: bool
    last_accessed_at: datetime | None
    access_count: int


@dataclass(frozen=True, slots=True)
class StoredApiToken:
    """An API token row; the token itself is never stored."""

    id: int
    tenant_id: str
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    """One invitation email: who, when, and whether it went out.

    ``status`` is ``pending`` (recorded, not yet handed to the mail server),
    ``sent``, ``failed`` (``error`` says why; retry with
    :meth:`ClientPortal.retry_invitation`) or ``unknown`` (the connection
    failed after the email was handed over: it may have been delivered).
    """

    id: int
    tenant_id: str
    subject_type: str
    subject_id: str
    email: str
    portal_token_id: int
    custom_message: str | None
    status: str
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


#: Builds the outbox events of a change once the stored row is known.
EventsFor = Callable[[StoredPortalToken], Sequence[DomainEvent]]


class TokenStore(Protocol):
    """Where portal tokens live. The default is :class:`SqlStore`.

    A replacement (provided through the ``client_portal_token_store`` hook)
    must keep one current token per subject even under concurrent calls, and
    persist the events it is given atomically with the change they describe.
    """

    def find_current_token(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> StoredPortalToken | None:
        """The subject's current token row, valid or not, or ``None``."""
        ...

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: Callable[[StoredPortalToken], bool],
        mint: Callable[[], tuple[NewPortalToken, datetime, datetime]],
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """Return the current token if ``is_usable``, else create one atomically.

        ``mint`` returns the new token, its creation time and its expiry.
        Returns the row and whether it was created.
        """
        ...

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """The token row whose id hashes to ``lookup_hash``, in any tenant."""
        ...

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """Count one access of the token and persist ``events`` with it."""
        ...

    def revoke_token(self, tenant_id: str, token_id: int, at: datetime) -> bool:
        """Revoke one token of the tenant; False if there is no such live token."""
        ...


def _new_msg_id() -> str:
    return "msg_" + secrets.token_hex(16)


class SqlStore:
    """The SQLAlchemy implementation of every storage need of the library.

    :param engine: any SQLAlchemy engine; use :func:`create_engine_from_url`
        for SQLite's write locking.
    :param tables: the schema, from :func:`build_tables`.
    :param first_attempt_delay: how long after its event a webhook delivery
        is first due (the first entry of ``Settings.webhook_retry_schedule``).
    """

    def __init__(
        self, engine: Engine, tables: Tables, *, first_attempt_delay: timedelta = timedelta(0)
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.first_attempt_delay = first_attempt_delay
        # Hot-path statements are built once: SQLAlchemy then reuses their
        # cache keys and compiled forms instead of rebuilding them per call.
        tokens, api = tables.portal_tokens, tables.api_tokens
        self._token_columns = token_columns = [tokens.c[name] for name in _TOKEN_FIELDS]
        self._by_lookup_hash = sa.select(*token_columns).where(
            tokens.c.lookup_hash == sa.bindparam("lookup_hash")
        )
        self._current_by_subject = sa.select(*token_columns).where(
            tokens.c.tenant_id == sa.bindparam("tenant_id"),
            tokens.c.subject_type == sa.bindparam("subject_type"),
            tokens.c.subject_id == sa.bindparam("subject_id"),
            tokens.c.current.is_(True),
        )
        self._current_by_subject_locked = self._current_by_subject.with_for_update()
        self._tenant_by_api_hash = sa.select(api.c.tenant_id).where(
            api.c.token_hash == sa.bindparam("token_hash"), api.c.revoked_at.is_(None)
        )
        self._config_by_tenant = sa.select(tables.configs.c.config).where(
            tables.configs.c.tenant_id == sa.bindparam("tenant_id")
        )
        self._compiled: dict[sa.Select[Any], SQLCompiler] = {}
        # Write statements run on every invitation, built once with bind parameters.
        inv = tables.invitations
        self._insert_token = sa.insert(tokens).returning(*token_columns)
        self._insert_invitation = sa.insert(inv).returning(inv.c.id)
        self._record_access = (
            sa.update(tokens)
            .where(tokens.c.id == sa.bindparam("token_id"))
            .values(last_accessed_at=sa.bindparam("at"), access_count=tokens.c.access_count + 1)
            .returning(*token_columns)
        )
        messages = tables.webhook_messages
        self._insert_message = sa.insert(messages).returning(messages.c.id)
        self._insert_delivery = sa.insert(tables.webhook_deliveries)
        endpoints = tables.webhook_endpoints
        self._endpoints_of_tenant = sa.select(endpoints.c.id, endpoints.c.events).where(
            endpoints.c.tenant_id == sa.bindparam("tenant_id"), endpoints.c.enabled.is_(True)
        )
        self._finish_invitation = {
            sent: sa.update(inv)
            .where(inv.c.id == sa.bindparam("invitation_id"))
            .values(
                status=sa.bindparam("new_status"),
                error=sa.bindparam("new_error"),
                updated_at=sa.bindparam("at"),
                attempts=inv.c.attempts + 1,
                **({"sent_at": sa.bindparam("at")} if sent else {}),
            )
            .returning(*inv.c)
            for sent in (True, False)
        }

    # -- transactions -------------------------------------------------------

    def _fast_first(
        self, statement: sa.Select[Any], params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run a hot read on a pooled DBAPI connection, skipping SQLAlchemy's execution layer.

        Used only for the few single-row lookups on every request (token,
        API token, config). The statement is compiled once per dialect;
        values come back as the driver returns them (see :func:`_as_utc`).
        """
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            self._compiled[statement] = compiled
        if compiled.positiontup is not None:
            bound: Any = tuple(params[name] for name in compiled.positiontup)
        else:
            bound = params
        dbapi_connection = self.engine.raw_connection()
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(compiled.string, bound)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            dbapi_connection.close()
        return None if row is None else tuple(row)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads; its transaction is rolled back on exit."""
        with self.engine.connect() as conn:
            yield conn.execution_options(client_portal_read=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(client_portal_write=True)
            with conn.begin():
                yield conn

    def create_schema(self) -> None:
        """Create the tables that do not exist yet, safely from several processes at once.

        One transaction, serialized across processes (an advisory lock on
        PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): of two servers starting
        together on an empty database, one creates and the other finds the
        tables. A database created from nothing is stamped at the newest
        migration, so :func:`client_portal_core.migrate.upgrade` takes over
        from here on.
        """
        from . import migrate  # migrate imports this module

        with self.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            ours = {table.name for table in self.tables.metadata.sorted_tables}
            existing = ours & set(sa.inspect(conn).get_table_names())
            self.tables.metadata.create_all(conn)
            if not existing:
                migrate.stamp(conn, table_prefix=self.tables.prefix)

    # -- configs ------------------------------------------------------------

    def load_config(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's stored configuration, or ``None`` if it never set one."""
        row = self._fast_first(self._config_by_tenant, {"tenant_id": tenant_id})
        return None if row is None else dict(json.loads(row[0]))

    def save_config(self, tenant_id: str, config: dict[str, Any], at: datetime) -> None:
        """Insert or replace the tenant's configuration."""
        t = self.tables.configs
        raw = json.dumps(config, sort_keys=True)
        update = sa.update(t).where(t.c.tenant_id == tenant_id).values(config=raw, updated_at=at)
        try:
            with self.write() as conn:
                if not conn.execute(update).rowcount:
                    conn.execute(
                        sa.insert(t).values(tenant_id=tenant_id, config=raw, updated_at=at)
                    )
        except IntegrityError:
            # Another process saved this tenant's first config meanwhile: update it.
            with self.write() as conn:
                conn.execute(update)

    # -- API tokens ---------------------------------------------------------

    def add_api_token(
        self, tenant_id: str, name: str, token_hash: str, hint: str, at: datetime
    ) -> StoredApiToken:
        """Store a new API token's hash for the tenant."""
        t = self.tables.api_tokens
        with self.write() as conn:
            new_id = conn.execute(
                sa.insert(t)
                .values(
                    tenant_id=tenant_id, name=name, token_hash=token_hash, hint=hint, created_at=at
                )
                .returning(t.c.id)
            ).scalar_one()
        return StoredApiToken(new_id, tenant_id, name, hint, at, None)

    def tenant_for_api_token_hash(self, token_hash: str) -> str | None:
        """The tenant of a live API token, by the token's hash."""
        row = self._fast_first(self._tenant_by_api_hash, {"token_hash": token_hash})
        return None if row is None else str(row[0])

    def list_api_tokens(self, tenant_id: str) -> list[StoredApiToken]:
        """The tenant's API tokens, newest first."""
        t = self.tables.api_tokens
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.c.id, t.c.tenant_id, t.c.name, t.c.hint, t.c.created_at, t.c.revoked_at)
                .where(t.c.tenant_id == tenant_id)
                .order_by(t.c.id.desc())
            ).all()
        return [StoredApiToken(*row) for row in rows]

    def revoke_api_token(self, tenant_id: str, token_id: int, at: datetime) -> bool:
        """Revoke one of the tenant's API tokens; False if none was live."""
        t = self.tables.api_tokens
        with self.write() as conn:
            return bool(
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == token_id, t.c.tenant_id == tenant_id, t.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                ).rowcount
            )

    # -- portal tokens ------------------------------------------------------

    def find_current_token(
        self, tenant_id: str, subject_type: str, subject_id: str
    ) -> StoredPortalToken | None:
        """See :meth:`TokenStore.find_current_token`."""
        params = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id}
        return _token_or_none(self._fast_first(self._current_by_subject, params))

    def get_or_create_token(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        *,
        is_usable: Callable[[StoredPortalToken], bool],
        mint: Callable[[], tuple[NewPortalToken, datetime, datetime]],
        events: EventsFor,
    ) -> tuple[StoredPortalToken, bool]:
        """See :meth:`TokenStore.get_or_create_token`.

        The unique constraint on ``(tenant, subject, current)`` decides races:
        the loser's insert fails, it rolls back and reads the winner's token.
        """
        subject = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id}
        existing = self.find_current_token(tenant_id, subject_type, subject_id)
        if existing is not None and is_usable(existing):
            return existing, False
        t = self.tables.portal_tokens
        for _attempt in range(5):
            try:
                with self.write() as conn:
                    locked = conn.execute(self._current_by_subject_locked, subject)
                    current = _token_or_none(locked.first())
                    if current is not None:
                        if is_usable(current):
                            return current, False
                        conn.execute(sa.update(t).where(t.c.id == current.id).values(current=None))
                    new, created_at, expires_at = mint()
                    inserted = conn.execute(
                        self._insert_token,
                        {
                            **subject,
                            "lookup_hash": new.lookup_hash,
                            "sealed": new.sealed,
                            "current": True,
                            "created_at": created_at,
                            "expires_at": expires_at,
                            "access_count": 0,
                        },
                    )
                    stored = _token_from_row(inserted.one())
                    self.write_events(conn, events(stored))
                    return stored, True
            except IntegrityError:
                # Another request created the subject's token first; use it.
                continue
        raise RuntimeError("could not get or create a portal token after 5 attempts")

    def find_token_by_lookup_hash(self, lookup_hash: str) -> StoredPortalToken | None:
        """See :meth:`TokenStore.find_token_by_lookup_hash`."""
        return _token_or_none(self._fast_first(self._by_lookup_hash, {"lookup_hash": lookup_hash}))

    def get_token(self, tenant_id: str, token_id: int) -> StoredPortalToken | None:
        """One of the tenant's token rows by id."""
        t = self.tables.portal_tokens
        with self.read() as conn:
            row = conn.execute(
                sa.select(*self._token_columns).where(
                    t.c.id == token_id, t.c.tenant_id == tenant_id
                )
            ).first()
        return _token_or_none(row)

    def record_token_access(self, token_id: int, at: datetime, events: EventsFor) -> None:
        """See :meth:`TokenStore.record_token_access`."""
        with self.write() as conn:
            updated = _token_or_none(
                conn.execute(self._record_access, {"token_id": token_id, "at": at}).first()
            )
            if updated is not None:
                self.write_events(conn, events(updated))

    def revoke_token(self, tenant_id: str, token_id: int, at: datetime) -> bool:
        """See :meth:`TokenStore.revoke_token`."""
        t = self.tables.portal_tokens
        with self.write() as conn:
            return bool(
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == token_id, t.c.tenant_id == tenant_id, t.c.revoked_at.is_(None))
                    .values(revoked_at=at, current=None)
                ).rowcount
            )

    # -- invitations --------------------------------------------------------

    def _invitation_from_row(self, row: sa.Row[Any]) -> InvitationRecord:
        m = row._mapping
        return InvitationRecord(**{name: m[name] for name in InvitationRecord.__slots__})

    def add_invitation(
        self,
        tenant_id: str,
        subject_type: str,
        subject_id: str,
        email: str,
        portal_token_id: int,
        custom_message: str | None,
        at: datetime,
    ) -> InvitationRecord:
        """Record an invitation as ``pending`` before the mail is sent."""
        values = {
            "tenant_id": tenant_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "email": email,
            "portal_token_id": portal_token_id,
            "custom_message": custom_message,
            "status": "pending",
            "error": None,
            "attempts": 0,
            "created_at": at,
            "updated_at": at,
            "sent_at": None,
        }
        with self.write() as conn:
            new_id = conn.execute(self._insert_invitation, values).scalar_one()
        return InvitationRecord(id=new_id, **values)  # type: ignore[arg-type]

    def finish_invitation(
        self,
        invitation_id: int,
        *,
        at: datetime,
        error: str | None,
        events: Sequence[DomainEvent] = (),
        uncertain: bool = False,
    ) -> InvitationRecord:
        """Mark an invitation sent (``error`` None, with its events), failed, or
        ``unknown`` (``uncertain``: it may have been delivered)."""
        failed = "unknown" if uncertain else "failed"
        params = {
            "invitation_id": invitation_id,
            "new_status": "sent" if error is None else failed,
            "new_error": error,
            "at": at,
        }
        with self.write() as conn:
            row = conn.execute(self._finish_invitation[error is None], params).one()
            if error is None:
                self.write_events(conn, events)
        return self._invitation_from_row(row)

    def get_invitation(self, tenant_id: str, invitation_id: int) -> InvitationRecord | None:
        """One of the tenant's invitations."""
        t = self.tables.invitations
        with self.read() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.id == invitation_id, t.c.tenant_id == tenant_id)
            ).first()
        return None if row is None else self._invitation_from_row(row)

    def list_invitations(
        self, tenant_id: str, status: str | None = None, limit: int = 100
    ) -> list[InvitationRecord]:
        """The tenant's invitations, newest first, optionally of one status."""
        t = self.tables.invitations
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.read() as conn:
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
        return [self._invitation_from_row(row) for row in rows]

    # -- webhook outbox -----------------------------------------------------

    def write_events(self, conn: Connection, events: Sequence[DomainEvent]) -> None:
        """Write each event to the outbox, in ``conn``'s transaction.

        One message per event, one delivery per enabled endpoint of the
        event's tenant subscribed to its type. No endpoint, no row.
        """
        if not events:
            return
        endpoints = [
            (row.id, tenant_id, set(json.loads(row.events)))
            for tenant_id in {event.tenant_id for event in events}
            for row in conn.execute(self._endpoints_of_tenant, {"tenant_id": tenant_id})
        ]
        if not endpoints:
            return
        for event in events:
            targets = [
                endpoint_id
                for endpoint_id, tenant_id, subscribed in endpoints
                if tenant_id == event.tenant_id and event.type in subscribed
            ]
            if not targets:
                continue
            payload = json.dumps(
                {"type": event.type, "data": event.data}, sort_keys=True, separators=(",", ":")
            )
            message_id = conn.execute(
                self._insert_message,
                {
                    "msg_id": _new_msg_id(),
                    "tenant_id": event.tenant_id,
                    "event_type": event.type,
                    "payload": payload,
                    "created_at": event.occurred_at,
                },
            ).scalar_one()
            deliveries = [
                {
                    "message_id": message_id,
                    "endpoint_id": endpoint_id,
                    "tenant_id": event.tenant_id,
                    "status": "pending",
                    "attempt_count": 0,
                    "next_attempt_at": event.occurred_at + self.first_attempt_delay,
                    "created_at": event.occurred_at,
                }
                for endpoint_id in targets
            ]
            # One row is the common case: a plain execute, not an executemany.
            conn.execute(self._insert_delivery, deliveries[0] if len(targets) == 1 else deliveries)
